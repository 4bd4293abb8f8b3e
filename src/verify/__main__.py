from verify.early import main

main()
