"""build_preprocessor on the demo table: widths, missing values, unseen input, names, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from loopml.features import build_preprocessor, categorical_output_indices, original_column
from loopml.features.categorical import MAX_CODES, MIN_FREQUENCY, MISSING_CODE, UNKNOWN_CODE
from tests.features.conftest import DEMO_CSV, Demo

CATEGORICAL = ["carrier", "tailnum", "origin", "dest"]


def fitted(demo: Demo, encoding: str, **options: object):
    return build_preprocessor(demo.roles, encoding=encoding, **options).fit(
        demo.train, demo.y_train
    )


def block(pre, names: list[str], column: str) -> list[int]:
    return [
        i for i, name in enumerate(names) if original_column(name, pre.feature_names_in_) == column
    ]


def test_demo_roles_are_the_expected_ones(demo: Demo) -> None:
    assert demo.roles["flight_date"] == "datetime"
    assert sorted(c for c, r in demo.roles.items() if r == "categorical") == sorted(CATEGORICAL)
    assert sum(r == "numeric" for r in demo.roles.values()) == 11
    assert demo.train["carrier"].dtype == "str"  # pandas 3 string dtype, NaN for missing


def test_onehot_is_complete_and_as_wide_as_counted_by_hand(demo: Demo) -> None:
    pre = fitted(demo, "onehot", scale=True)
    out = pre.transform(demo.holdout)
    numeric = [c for c, r in demo.roles.items() if r == "numeric"]
    indicators = int(demo.train[numeric].isna().any().sum())
    onehot = 0
    for column in ("carrier", "origin"):  # at most 30 values: one-hot
        counts = demo.train[column].value_counts()
        onehot += int((counts >= MIN_FREQUENCY).sum()) + int((counts < MIN_FREQUENCY).any())
    target_encoded = 2  # dest (94 values) and tailnum (2,000+): one column each
    assert out.dtype == np.float64
    assert out.shape == (len(demo.holdout), 11 + indicators + 6 + onehot + target_encoded)
    assert np.isfinite(out).all()  # linear models cannot take NaN
    assert indicators == 7
    assert categorical_output_indices(pre) == []


@pytest.mark.parametrize("encoding", ["ordinal", "native"])
def test_trees_and_boosters_keep_one_column_per_feature_and_nan(demo: Demo, encoding: str) -> None:
    pre = fitted(demo, encoding)
    out = pre.transform(demo.holdout)
    names = list(pre.get_feature_names_out())
    assert out.dtype == np.float64 and out.shape == (len(demo.holdout), 11 + 6 + 4)
    assert not np.isinf(out).any()
    gust = out[:, names.index("wind_gust")]
    np.testing.assert_array_equal(np.isnan(gust), demo.holdout["wind_gust"].isna().to_numpy())
    filled = fitted(demo, encoding, impute=True).transform(demo.holdout)
    assert filled.shape[1] == out.shape[1] + 7 and np.isfinite(filled[:, :18]).all()


def test_native_codes_are_small_integers_and_indexed(demo: Demo) -> None:
    pre = fitted(demo, "native")
    names = list(pre.get_feature_names_out())
    indices = categorical_output_indices(pre)
    assert sorted(names[i] for i in indices) == sorted(CATEGORICAL)
    out = pre.transform(demo.train)
    known = out[:, indices][~np.isnan(out[:, indices])]
    assert (known == np.round(known)).all() and known.min() == 0 and known.max() <= MAX_CODES - 1
    tailnum = out[:, names.index("tailnum")]
    assert demo.train["tailnum"].nunique() > MAX_CODES
    assert len(np.unique(tailnum[~np.isnan(tailnum)])) == MAX_CODES  # capped, rest share a code
    np.testing.assert_array_equal(np.isnan(tailnum), demo.train["tailnum"].isna().to_numpy())


def serving_rows(demo: Demo) -> pd.DataFrame:
    """A row of categories never seen in training, and a row with every value missing."""
    unseen = demo.holdout.iloc[0].to_dict() | {
        "carrier": "ZZ",
        "origin": "XYZ",
        "dest": "NOWHERE",
        "tailnum": "N0000X",
    }
    missing = dict.fromkeys(demo.roles)
    return pd.DataFrame([unseen, missing], columns=list(demo.roles), dtype=object)


def test_unseen_and_missing_rows_get_the_unknown_encoding(demo: Demo) -> None:
    rows = serving_rows(demo)
    native = fitted(demo, "native")
    out = native.transform(rows)
    assert np.isnan(out[:, categorical_output_indices(native)]).all()
    assert np.isnan(out[1]).all()

    # Cleaning dropped the unlabelled rows, and with them every missing tailnum; the ordinal
    # encoding needs no target, so it is fitted on the raw table, missing tailnums included.
    raw = pd.read_csv(DEMO_CSV)
    assert raw["tailnum"].isna().any() and not raw["carrier"].isna().any()
    ordinal = build_preprocessor(demo.roles, encoding="ordinal").fit(raw)
    names = list(ordinal.get_feature_names_out())
    out = ordinal.transform(rows)
    cats = [names.index(c) for c in CATEGORICAL]
    assert (out[0, cats] == UNKNOWN_CODE).all()
    assert out[1, names.index("tailnum")] == MISSING_CODE  # seen missing in training
    assert out[1, names.index("carrier")] == UNKNOWN_CODE  # never missing in training

    onehot = fitted(demo, "onehot")
    names = list(onehot.get_feature_names_out())
    out = onehot.transform(rows)
    assert np.isfinite(out).all()
    carrier = block(onehot, names, "carrier")
    expected = [1.0 if names[i] == "carrier=infrequent_sklearn" else 0.0 for i in carrier]
    assert out[0, carrier].tolist() == expected
    assert out[0, block(onehot, names, "origin")].sum() == 0  # no infrequent group: all zero
    prior = onehot.named_transformers_["target"].named_steps["encode"].target_mean_
    assert out[0, names.index("dest")] == pytest.approx(prior)
    imputer = onehot.named_transformers_["numeric"].named_steps["fill"]
    numeric = [c for c, r in demo.roles.items() if r == "numeric"]
    np.testing.assert_allclose(out[1, : len(numeric)], imputer.statistics_)
    assert out[1, names.index("missingindicator_wind_gust")] == 1.0


def dtype_variants(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The same rows as a serving client or another reader may send them."""
    strings = [c for c in frame.columns if frame[c].dtype == "str"]
    floats = [c for c in frame.columns if frame[c].dtype == "float64"]
    ints = [c for c in frame.columns if frame[c].dtype == "int64"]
    dates = pd.to_datetime(frame["flight_date"])
    nullable = frame.astype(
        {c: "string" for c in strings}
        | dict.fromkeys(floats, "Float64")
        | dict.fromkeys(ints, "Int64")
    )
    as_object = frame.astype(object).where(frame.notna(), None)
    return {
        "nullable (pd.NA)": nullable,
        "object with None": as_object,
        "category dtype": frame.astype(dict.fromkeys(strings, "category")),
        "ISO date strings": frame.assign(flight_date=dates.dt.strftime("%Y-%m-%d")),
        "US date strings": frame.assign(flight_date=dates.dt.strftime("%m/%d/%Y")),
        "datetime64": frame.assign(flight_date=dates),
        "reversed columns": frame[list(reversed(frame.columns))],
    }


@pytest.mark.parametrize("encoding", ["onehot", "ordinal", "native"])
def test_any_dtype_and_column_order_give_the_same_output(demo: Demo, encoding: str) -> None:
    holdout = demo.holdout.head(300)
    pre = fitted(demo, encoding)
    expected = pre.transform(holdout)
    for name, variant in dtype_variants(holdout).items():
        np.testing.assert_array_equal(pre.transform(variant), expected, err_msg=name)
    train = dtype_variants(demo.train)["nullable (pd.NA)"]
    again = build_preprocessor(demo.roles, encoding=encoding).fit(train, demo.y_train)
    np.testing.assert_array_equal(again.transform(holdout), expected)


def test_identifier_constant_and_text_columns_are_dropped(demo: Demo) -> None:
    extra = {"row_id": "identifier", "source": "constant", "remark": "text"}
    train = demo.train.assign(
        row_id=np.arange(len(demo.train)),
        source="bts",
        remark="flight " + demo.train["carrier"] + " leaves " + demo.train["origin"] + " late",
    )
    for encoding in ("onehot", "ordinal", "native"):
        plain = fitted(demo, encoding)
        pre = build_preprocessor(demo.roles | extra, encoding=encoding).fit(train, demo.y_train)
        names = list(pre.get_feature_names_out())
        assert names == list(plain.get_feature_names_out())
        assert not {original_column(n, demo.roles | extra) for n in names} & set(extra)
        np.testing.assert_array_equal(pre.transform(demo.holdout), plain.transform(demo.holdout))


@pytest.mark.parametrize("encoding", ["onehot", "ordinal", "native"])
def test_feature_names_map_back_to_the_original_columns(demo: Demo, encoding: str) -> None:
    pre = fitted(demo, encoding)
    names = list(pre.get_feature_names_out())
    assert len(names) == pre.transform(demo.holdout.head(5)).shape[1] == len(set(names))
    origins = [original_column(name, demo.roles) for name in names]
    assert set(origins) == set(demo.roles)  # every feature column is used, nothing else
    assert original_column("flight_date__month", demo.roles) == "flight_date"
    if encoding == "onehot":
        assert original_column("carrier=AA", demo.roles) == "carrier" and "carrier=AA" in names
        assert original_column("missingindicator_wind_gust", demo.roles) == "wind_gust"
    with pytest.raises(KeyError):
        original_column("nothing=here", demo.roles)


def test_multiclass_target_encoding_names_map_back(demo: Demo) -> None:
    roles = {c: r for c, r in demo.roles.items() if c != "origin"}
    pre = build_preprocessor(roles, encoding="onehot").fit(demo.train, demo.train["origin"])
    names = list(pre.get_feature_names_out())
    assert {"dest_EWR", "dest_JFK", "dest_LGA", "tailnum_JFK"} <= set(names)
    assert {original_column(n, roles) for n in names} == set(roles)


@pytest.mark.parametrize("encoding", ["onehot", "ordinal", "native"])
def test_pickled_preprocessor_gives_identical_output(demo: Demo, encoding: str) -> None:
    pre = fitted(demo, encoding, scale=True)
    loaded = pickle.loads(pickle.dumps(pre))
    np.testing.assert_array_equal(loaded.transform(demo.holdout), pre.transform(demo.holdout))
    assert list(loaded.get_feature_names_out()) == list(pre.get_feature_names_out())


def test_same_seed_same_output_and_the_seed_is_used(demo: Demo) -> None:
    def run(seed: int) -> np.ndarray:
        pre = build_preprocessor(demo.roles, encoding="onehot", seed=seed)
        return pre.fit_transform(demo.train, demo.y_train)  # cross-fitted target encoding

    first, again, other = run(0), run(0), run(1)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first[:, -2:], other[:, -2:])  # target-encoded folds moved
    np.testing.assert_array_equal(first[:, :-2], other[:, :-2])


def test_bad_arguments_are_named(demo: Demo) -> None:
    with pytest.raises(ValueError, match="encoding"):
        build_preprocessor(demo.roles, encoding="embedding")
    with pytest.raises(ValueError, match="`carrier`"):
        build_preprocessor({"carrier": "nominal"})
    with pytest.raises(ValueError, match="no feature columns"):
        build_preprocessor({"row_id": "identifier", "late": "target"})


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([True, False, None, True], object),
        (["yes", "no", None, "Yes"], "str"),
        (["T", "F", pd.NA, "t"], "string"),
        ([1, 0, None, 1], "Int64"),
    ],
)
def test_booleans_become_zero_one_and_missing_is_filled(values: list, dtype: object) -> None:
    frame = pd.DataFrame({"flag": pd.array(values, dtype=dtype)})
    native = build_preprocessor({"flag": "boolean"}, encoding="native").fit(frame)
    np.testing.assert_array_equal(native.transform(frame)[:, 0], [1.0, 0.0, np.nan, 1.0])
    onehot = build_preprocessor({"flag": "boolean"}, encoding="onehot").fit(frame)
    assert list(onehot.get_feature_names_out()) == ["flag", "missingindicator_flag"]
    np.testing.assert_array_equal(onehot.transform(frame), [[1, 0], [0, 0], [1, 1], [1, 0]])


@pytest.mark.parametrize("encoding", ["onehot", "ordinal", "native"])
def test_output_sources_name_each_outputs_input_column(demo: Demo, encoding: str) -> None:
    from loopml.features import output_sources

    pre = fitted(demo, encoding, scale=encoding == "onehot")
    sources = output_sources(pre)
    assert len(sources) == pre.transform(demo.holdout.iloc[:2]).shape[1]
    features = [c for c, r in demo.roles.items() if r in ("numeric", "datetime", "categorical")]
    assert set(sources) == set(features)
    # Changing one input column changes only the outputs it is the source of.
    rows = demo.holdout.iloc[:50].reset_index(drop=True)
    before = pre.transform(rows)
    for column in ("carrier", "flight_date", "temp"):
        changed = rows.copy()
        changed[column] = rows[column].iloc[::-1].to_numpy()
        moved = np.flatnonzero(~np.isclose(pre.transform(changed), before, equal_nan=True).all(0))
        assert moved.size and {sources[i] for i in moved} == {column}
