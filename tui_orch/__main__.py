from tui_orch.cli import main

raise SystemExit(main())
