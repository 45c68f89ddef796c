"""Loads examples/data/iris.csv (Fisher's Iris, as shipped by scikit-learn; see
examples/data/README.md).

The file keeps scikit-learn's layout: a header line ``150,4,setosa,versicolor,virginica``
(rows, feature count, class names), then one row per flower: four measurements in cm and
the class index.
"""

from __future__ import annotations

import csv
import os
from typing import NamedTuple

import numpy as np

IRIS_CSV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "iris.csv")
FEATURE_NAMES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


class Iris(NamedTuple):
    features: dict[str, np.ndarray]  # feature name -> float32 column of 150 values
    labels: np.ndarray  # int64 class index per row
    class_names: list[str]

    def row(self, index: int) -> dict[str, float]:
        """One flower's measurements, as a feature name -> value dict."""
        return {name: float(column[index]) for name, column in self.features.items()}


def load_iris(path: str = IRIS_CSV) -> Iris:
    with open(path, newline="", encoding="utf-8") as csv_file:
        reader = csv.reader(csv_file)
        header = next(reader)
        row_count, feature_count, class_names = int(header[0]), int(header[1]), header[2:]
        rows = [row for row in reader if row]
    if len(rows) != row_count or feature_count != len(FEATURE_NAMES):
        raise ValueError(
            f"{path}: expected {row_count} rows of {feature_count} features, found {len(rows)} rows"
        )
    values = np.array([[float(value) for value in row[:feature_count]] for row in rows], np.float32)
    labels = np.array([int(row[feature_count]) for row in rows], np.int64)
    features = {name: values[:, column] for column, name in enumerate(FEATURE_NAMES)}
    return Iris(features, labels, list(class_names))
