from segcli.main import main

raise SystemExit(main())
