"""NLP stage: text normalization and segmentation, classifiers, matching, topics, places."""
