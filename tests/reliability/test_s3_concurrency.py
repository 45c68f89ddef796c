"""Four processes x three exports to ONE s3:// base: all complete, under distinct names.

On s3:// there is no atomic rename, so exports claim their integer name with a claim
file (``_fs.claim_and_publish_by_copy``); four writers started together collide on
the same second and must move on to distinct names, each export complete.
"""

from __future__ import annotations

import pytest

from tests.support import s3_checks
from tests.support.s3server import BUCKET, S3_MISSING, S3_SKIP_REASON, moto_server

pytestmark = pytest.mark.skipif(bool(S3_MISSING), reason=S3_SKIP_REASON)

WRITERS = 4
EXPORTS_EACH = 3


def test_four_writers_three_exports_each_all_complete_under_distinct_names(
    model_dir, checkpoint_prefix, tmp_path
):
    base = f"s3://{BUCKET}/concurrent/exports"
    with moto_server(str(tmp_path / "moto.log")) as moto:
        env = s3_checks.fault_env(moto["endpoint"])
        writers = [
            s3_checks.S3Child(model_dir, env, str(tmp_path / f"w{i}.log")) for i in range(WRITERS)
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
        listed = s3_checks.entries(moto["client"], "concurrent/exports")
        assert sorted(listed) == sorted(names)  # no temporary, no claim left
        assert s3_checks.partial_versions(moto["client"], "concurrent/exports") == []
        for result in results:
            s3_checks.check_complete_export(moto["client"], result["export_dir"], checkpoint_prefix)
