from sklearn_corenet._demo import demo_rows, format_rows


def test_demo_shows_the_recommended_methods_ahead_and_a_certified_model():
    _, accuracy, rows = demo_rows(keep_ratios=(0.1,), methods=("auto", "neurons-thinet", "magnitude"))
    by_method = {row["method"]: row for row in rows}
    assert by_method["auto"]["accuracy"] >= by_method["magnitude"]["accuracy"]
    assert by_method["neurons-thinet"]["accuracy"] >= by_method["magnitude"]["accuracy"]
    # the no-argument compressor: certified, it stays within the demo's ε on
    # the test points and compresses
    assert by_method["default"]["epsilon"] <= 0.1
    assert by_method["default"]["kept"] < 0.6
    median, low, high = by_method["auto"]["speed-up"]
    assert 0 < low <= median <= high
    assert all(0 < row["size"] < row["kept"] + 0.05 for row in rows)
    table = format_rows(rows)
    assert "default" in table and "ε at δ=0.1" in table
    assert accuracy > 0.9
