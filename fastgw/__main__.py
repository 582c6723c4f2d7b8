from fastgw.cli import main

main(prog_name="fastgw")
