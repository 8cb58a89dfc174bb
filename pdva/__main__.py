from pdva.cli import main

main()
