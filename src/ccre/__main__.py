from ccre.cli import app

app(prog_name="ccre")
