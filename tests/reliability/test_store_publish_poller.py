"""No reader of s3:// or gs:// ever sees a saved_model.pb before the export's other files.

Neither store has an atomic directory rename (TensorFlow's GCS rename copies and deletes
one object at a time), so estimator_ext publishes by copy after claiming the name, with
``saved_model.pb`` last (``storage/copy_publish.py``). Here a poller lists the bucket
straight from the store's server, as fast as it answers, while a child exports
``EXPORTS`` times into one base: every listing that shows an integer-named directory with
a ``saved_model.pb`` must also show every file that export ends up with (an object
appears only once its upload is complete, on both stores).
"""

from __future__ import annotations

import threading
import time

from tests.support import store_checks
from tests.support.stores import StoreServer

EXPORTS = 3
PREFIX = "polled/exports"


def test_no_listing_shows_saved_model_pb_before_the_other_files(
    object_store_server, model_dir, tmp_path
):
    store: StoreServer = object_store_server
    listings: list[list[str]] = []
    stop = threading.Event()

    def poll() -> None:
        deadline = time.monotonic() + 300
        while not stop.is_set() and time.monotonic() < deadline:
            listings.append(store.keys(PREFIX + "/"))

    poller = threading.Thread(target=poll, name="poller", daemon=True)
    child = store_checks.StoreChild(
        store.name,
        model_dir,
        store_checks.fault_env(store.name, store.env),
        str(tmp_path / "child.log"),
    )
    poller.start()
    try:
        outcomes = [
            child.call({"op": "export", "base": f"{store.root}/{PREFIX}"}) for _ in range(EXPORTS)
        ]
    finally:
        stop.set()
        poller.join(30)
        child.close()
    assert all(outcome["ok"] for outcome in outcomes), outcomes
    final = store_checks.entries(store, PREFIX)
    complete = {
        name: sorted(key for key in keys if key and not key.endswith("/"))
        for name, keys in final.items()
    }
    assert len(complete) == EXPORTS and all(name.isdigit() for name in complete), complete
    seen_with_saved_model = 0
    for listing in listings:
        by_export: dict[str, set[str]] = {}
        for key in listing:
            name, _, rest = key[len(PREFIX) + 1 :].partition("/")
            by_export.setdefault(name, set()).add(rest)
        for name, files in by_export.items():
            if "saved_model.pb" in files and name.isdigit():
                seen_with_saved_model += 1
                missing = set(complete[name]) - files
                assert not missing, f"a listing showed {name}/saved_model.pb without {missing}"
    figures = {
        "store": store.name,
        "listings": len(listings),
        "listings_with_a_saved_model_pb": seen_with_saved_model,
    }
    store_checks.record_figures(f"{store.name}_publish_poller", figures)
    # the poller really watched the exports appear, not only the end
    partial_sightings = sum(
        1
        for listing in listings
        if any(key.startswith(f"{PREFIX}/{name}/") for key in listing for name in complete)
        and len([k for k in listing if k.endswith("/saved_model.pb")]) < EXPORTS
    )
    assert partial_sightings > 0 and len(listings) >= 20, figures
