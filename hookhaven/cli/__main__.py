from hookhaven.cli import main

main()
