from aiostack.cli import main

raise SystemExit(main())
