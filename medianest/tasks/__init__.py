"""Background work (Taskiq). Tasks are thin: take ids, reload from the database, safe to run twice."""
