from scanner.cli.main import app

app()
