from bogfoer_cli.main import main

main()
