"""NLP stage (builds on `analysis.text`): classifiers, matching, topics, places."""
