"""The programs here are run by ``tests/integration/test_ruvon_docs_programs.py``, each in a copy
of its own directory, as their readers run them; their own tests are not part of this suite."""

collect_ignore_glob = ["*"]
