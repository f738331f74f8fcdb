"""The comparison report, one module per section: each section rule draws its figures and
writes an HTML fragment; rule ``report`` assembles the fragments into one page.

Metrics come from the models' ``metrics.json`` (computed with ``sklearn.metrics`` by the
training rules); curves are drawn with ``sklearn.metrics``' displays.
"""
