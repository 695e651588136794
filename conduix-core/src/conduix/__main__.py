from conduix.cli import main

main()
