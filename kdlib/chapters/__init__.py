"""What each chapter says: notes, tables and discussion written from its results."""
