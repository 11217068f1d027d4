"""One repository per table family. Each method is one unit of work, or joins `db.transaction()`."""
