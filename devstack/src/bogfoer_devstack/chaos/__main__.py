from bogfoer_devstack.chaos.cli import main

raise SystemExit(main())
