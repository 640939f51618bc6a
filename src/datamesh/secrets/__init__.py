"""Secret references (env:, file:, vault:) and their resolution at the moment of use."""
