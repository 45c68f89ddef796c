"""Four processes x three exports to ONE s3:// or gs:// base: all complete, under distinct names.

On s3:// and gs:// there is no atomic rename, so exports claim their integer name with a claim
file (``_fs.claim_and_publish_by_copy``); four writers started together collide on
the same second and must move on to distinct names, each export complete.
"""

from __future__ import annotations

from tests.support import store_checks
from tests.support.stores import StoreServer

WRITERS = 4
EXPORTS_EACH = 3


def test_four_writers_three_exports_each_all_complete_under_distinct_names(
    object_store_server, model_dir, checkpoint_prefix, tmp_path
):
    store: StoreServer = object_store_server
    base = f"{store.root}/concurrent/exports"
    env = store_checks.fault_env(store.name, store.env)
    writers = [
        store_checks.StoreChild(store.name, model_dir, env, str(tmp_path / f"w{i}.log"))
        for i in range(WRITERS)
    ]
    results = []
    try:
        for _ in range(EXPORTS_EACH):
            for writer in writers:  # all four start together
                writer.send({"op": "export", "base": base})
            results += [writer._answer(240) for writer in writers]
    finally:
        for writer in writers:
            writer.close()
    assert all(result["ok"] for result in results), results
    names = [result["export_dir"].rsplit("/", 1)[1] for result in results]
    assert len(set(names)) == WRITERS * EXPORTS_EACH, names
    listed = store_checks.entries(store, "concurrent/exports")
    assert sorted(listed) == sorted(names)  # no temporary, no claim left
    assert store_checks.partial_versions(store, "concurrent/exports") == []
    for result in results:
        store_checks.check_complete_export(store, result["export_dir"], checkpoint_prefix)
    store_checks.record_figures(
        f"{store.name}_concurrency",
        {
            "store": store.name,
            "writers": WRITERS,
            "exports_each": EXPORTS_EACH,
            "complete": len(results),
            "distinct_names": len(set(names)),
            "left_besides_exports": 0,
        },
    )
