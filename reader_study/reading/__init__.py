"""The reader's side: worklist, the blinded reading page, image serving and scoring."""
