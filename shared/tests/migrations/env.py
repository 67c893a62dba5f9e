from threadline.database import run_migrations

run_migrations()
