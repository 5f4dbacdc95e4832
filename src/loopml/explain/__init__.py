"""Explanations: SHAP contributions per original input column, local and global.

Explainer(model, background).explain(rows)  # Contributions: base + values = output
explain_model(store, spec, "production", data=frame | records=[...])
"""
