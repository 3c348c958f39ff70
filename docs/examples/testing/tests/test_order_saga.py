async def test_check_saga_finds_what_the_refund_leaves_behind(harness, order):
    report = await harness.check_saga("OrderFlow", order)
    print(report)

    assert report.run_after("Reserve_Stock").ok
    charged = report.run_after("Charge_Card")
    assert charged.compensations_ran == ("Charge_Card", "Reserve_Stock")
    assert charged.unrestored_fields == ("charge_id",)
    assert not report.ok


async def test_saga_is_clean_when_keeping_the_charge_id_is_intended(harness, order):
    report = await harness.check_saga("OrderFlow", order, ignore=["charge_id"])
    assert report.ok, str(report)
