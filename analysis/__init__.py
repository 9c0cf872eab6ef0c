"""Bottom layer: the text analyzer (normalize + segment, with its version) shared by storage
(index and query time), ingest and the NLP stage."""
