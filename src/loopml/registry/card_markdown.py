"""The model card as Markdown (the same data as the HTML page)."""

from __future__ import annotations

from typing import Any

from loopml.runs.render import fmt


def card_markdown(card: dict[str, Any]) -> str:
    """The whole card as one Markdown document."""
    out: list[str] = []
    add = out.append
    title = f"# Model card: {card['project']} version {card['version']}"
    add(title + (f" ({', '.join(card['aliases'])})" if card["aliases"] else ""))
    add("")
    add(
        f"{card['model']} · {card['task']} model of `{card['target']}` · created {card['created_at'][:19]} UTC · sha256 `{card['sha256'][:12]}`"
    )
    add("\n## Intended use\n")
    use = card["use"]
    add(use.get("intended_use") or "_Not stated: add `card.intended_use` to loopml.yaml._")
    if use.get("out_of_scope"):
        add(f"\n**Out of scope:** {use['out_of_scope']}")
    if use.get("owner"):
        add(f"\n**Owner:** {use['owner']}")
    add(f"\n**Inputs:** {', '.join(f'`{c}`' for c in card['inputs'])}")
    data = card["training_data"]
    split = data["split"]
    add("\n## Training data\n")
    add(
        f"- Dataset version `{data['dataset_version'][:12]}`: {data['rows']:,} rows, {data['columns']} columns"
    )
    add(
        f"- Split `{split['id'][:12]}` ({split['strategy']}, seed {split['seed']}): "
        + ", ".join(f"{k} {v:,}" for k, v in split["counts"].items())
    )
    if data["refit_on_all_rows"]:
        add("- The deployed model was refit on every row, the test part included")
    add("\n## Evaluation data\n")
    evaluation = card["evaluation_data"]
    add(
        f"The {evaluation['part']}: {fmt(evaluation['rows'])} rows. The split's test-access "
        f"log shows it {evaluation['use']}.\n"
    )
    for access in evaluation["accesses"]:
        add(f"- {access['at'][:19]} UTC: {access['purpose']}")
    add("\n## Metrics\n")
    add("| metric | test | 95% interval | baseline |")
    add("|---|---|---|---|")
    for m in card["metrics"]:
        interval = f"[{fmt(m['interval'][0])}, {fmt(m['interval'][1])}]" if m["interval"] else "—"
        star = " (primary)" if m["metric"] == card["primary_metric"] else ""
        add(f"| {m['metric']}{star} | {fmt(m['value'])} | {interval} | {fmt(m['baseline'])} |")
    if card.get("improvement"):
        imp = card["improvement"]
        add(
            f"\nImprovement over the baseline on {imp['metric']}: {fmt(imp['improvement'])} [{fmt(imp['interval'][0])}, {fmt(imp['interval'][1])}]."
        )
    if card["goals"]:
        add("\n**Goals:** " + "; ".join(f"{g['goal']}: {g['status']}" for g in card["goals"]))
    if card.get("decision") and card["decision"].get("threshold") is not None:
        add(f"\n**Decision threshold:** {fmt(card['decision']['threshold'])}")
    add("\n## Fairness\n")
    add(_fairness(card.get("fairness")))
    add("\n## What drives the model\n")
    if card["explanation"]:
        add("| column | mean abs SHAP | permutation importance |")
        add("|---|---|---|")
        for f in card["explanation"]:
            add(f"| `{f['feature']}` | {fmt(f['mean_abs_shap'])} | {fmt(f['permutation'])} |")
    else:
        add("No explanation was recorded for this version.")
    add("\n## Caveats\n")
    add("\n".join(f"- {c}" for c in card["caveats"]) or "None recorded.")
    add("\n## Lineage\n")
    lineage = card["lineage"]
    chain = " ← ".join(f"{d['kind']} `{d['version'][:12]}`" for d in lineage["datasets"])
    add(f"- Data: {chain}")
    add(
        f"- Split `{lineage['split'][:12]}` → run `{lineage['run'][:12]}` (seed {lineage['seed']}) → version {card['version']}"
    )
    if lineage["retrain"]:
        r = lineage["retrain"]
        add(
            f"- Made by a {r['trigger']} retrain of version {r['champion_version']} ({r['decision']}; {r['metric']} {fmt(r['challenger_score'])} vs {fmt(r['champion_score'])})"
        )
    add("\n## Monitoring\n")
    mon = card["monitoring"]
    if mon is None:
        add("Not monitored yet.")
    else:
        add(
            f"Latest of {mon['checks']} check(s) at {mon['checked_at'][:19]} on {mon['rows']:,} rows: dataset drift {'yes' if mon['dataset_drift'] else 'no'}; "
            + (f"alerts: {'; '.join(mon['alerts'])}" if mon["alerts"] else "no alerts")
        )
    add("\n## Approvals\n")
    if card["approvals"]:
        add("| when (UTC) | alias | action | from | to | who | forced | why |")
        add("|---|---|---|---|---|---|---|---|")
        for e in card["approvals"]:
            add(
                f"| {e['at'][:19]} | {e['alias']} | {e['action']} | {fmt(e['from_version'])} | {fmt(e['to_version'])} | {e['actor']} | {'yes' if e['forced'] else 'no'} | {e['reason'] or ''} |"
            )
    else:
        add("No alias has pointed at this version yet.")
    return "\n".join(out) + "\n"


def _fairness(fairness: dict[str, Any] | None) -> str:
    if not fairness:
        return "No sensitive columns were named (`fairness.sensitive`), so none was checked."
    lines = []
    for column in fairness["columns"]:
        names = list(column["groups"][0]["metrics"]) if column["groups"] else []
        lines.append(
            f"**`{column['column']}`** (groups under {fairness['min_group_size']} test rows are marked small)\n"
        )
        lines.append("| group | rows | " + " | ".join(names) + " |")
        lines.append("|---" * (len(names) + 2) + "|")
        for g in column["groups"]:
            size = f"{g['n']:,}" + (" (small)" if g["small"] else "")
            lines.append(
                f"| {g['group']} | {size} | "
                + " | ".join(fmt(g["metrics"][n], 3) for n in names)
                + " |"
            )
        if column["gaps"]:
            lines.append("")
            lines.append(
                "Gaps: " + "; ".join(f"{k} {fmt(v, 3)}" for k, v in column["gaps"].items())
            )
        if column.get("note"):
            lines.append(f"\n{column['note']}")
        lines.append("")
    for check in fairness.get("checks", []):
        lines.append(
            f"- {check['gap']} on `{check['column']}` {check['op']} {check['threshold']:g}: {fmt(check['observed'], 3)} → **{check['status']}**"
        )
    return "\n".join(lines)
