from fastgw.cli import main

main()
