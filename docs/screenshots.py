"""The MLflow UI's pages of this project as a user sees them, in headless Chromium: `make screenshots` after
`make run` writes docs/images/. Chromium is driven through its DevTools protocol so that the UI's own
preferences can be set as a user leaves them (the model-training view, the assistant panel closed); the
runs table's grouping is an experiment's shared view (`mlflow.sharedViewState.<key>`), as the UI's Share
button makes it. A development tool: it talks to MLflow directly."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from mlflow import MlflowClient

UI_PORT, DEBUG_PORT = 5077, 9333
PREFERENCES = {"mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": True, "mlflow.workflowType_v1": "machine_learning"}
CLOSE_ASSISTANT = "document.querySelector('[data-component-id=\"mlflow.assistant.chat_panel.close\"]')?.click()"
GROUPED_BY_DEPTH = {
    "searchFilter": "tags.reported = 'true' and tags.family = 'mlp'",
    "groupBy": {"aggregateFunction": "average", "groupByKeys": [{"mode": "tag", "groupByData": "depth"}]},
    "selectedColumns": ["metrics.`test_accuracy`", "metrics.`train_time_s`", "tags.`depth`", "tags.`seed`"],
}


def pages(store: MlflowClient, base: str) -> dict[str, str]:
    """{file name: UI address} for the pages the docs show."""
    mnist1d = store.get_experiment_by_name("depthlab-mnist1d").experiment_id
    share = hashlib.sha256(json.dumps(GROUPED_BY_DEPTH).encode()).hexdigest()[:32]
    store.set_experiment_tag(mnist1d, f"mlflow.sharedViewState.{share}", json.dumps(GROUPED_BY_DEPTH))
    representative = store.search_runs(
        [mnist1d], "tags.representative = 'true' and tags.family = 'mlp' and tags.depth = '4'"
    )[0].info.run_id
    study = store.get_experiment_by_name("depthlab-study").experiment_id
    report = store.search_runs([study], order_by=["attributes.start_time DESC"])[0].info.run_id
    run = f"{base}/experiments/{mnist1d}/runs/{representative}"
    return {
        "mlflow-experiments.png": f"{base}/experiments",
        "mlflow-runs-grouped-by-depth.png": f"{base}/experiments/{mnist1d}/runs?viewStateShareKey={share}",
        "mlflow-charts-grouped-by-depth.png": (
            f"{base}/experiments/{mnist1d}/runs?viewStateShareKey={share}&compareRunsMode=CHART"
        ),
        "mlflow-run-page.png": run,
        "mlflow-run-confusion-matrix.png": f"{run}/artifacts/evaluation/confusion_matrix.png",
        "mlflow-run-per-class-accuracy.png": f"{run}/artifacts/evaluation/per_class_accuracy.json",
        "mlflow-report-run.png": f"{base}/experiments/{study}/runs/{report}",
        "mlflow-champion.png": f"{base}/models/depthlab-mnist1d",
    }


async def capture(shots: dict[str, str], base: str, out: Path) -> None:
    async with aiohttp.ClientSession() as http:
        targets = await (await http.get(f"http://127.0.0.1:{DEBUG_PORT}/json")).json()
        page = next(target for target in targets if target["type"] == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as socket:
            sent = 0

            async def call(method: str, **params: object) -> dict:
                nonlocal sent
                sent += 1
                await socket.send_json({"id": sent, "method": method, "params": params})
                while (message := await socket.receive_json()).get("id") != sent:
                    pass
                return message.get("result", {})

            async def load(url: str, settle_s: float) -> None:
                await call("Page.navigate", url="about:blank")  # a hash change alone would not reload the app
                await call("Page.navigate", url=url)
                await asyncio.sleep(settle_s)

            await call("Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1, mobile=False)
            await load(f"{base}/experiments", 6)
            for key, value in PREFERENCES.items():
                await call(
                    "Runtime.evaluate", expression=f"localStorage.setItem({json.dumps(key)}, '{json.dumps(value)}')"
                )
            for name, url in shots.items():
                await load(f"{url}{'&' if '?' in url else '?'}workflowType=machine_learning", 10)
                await call("Runtime.evaluate", expression=CLOSE_ASSISTANT)
                await asyncio.sleep(2)
                shot = await call("Page.captureScreenshot", format="png")
                (out / name).write_bytes(base64.b64decode(shot["data"]))
                print(f"{out / name}: {url}", flush=True)


def main() -> None:
    project = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    out = project / "docs" / "images"
    out.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{project / 'mlflow.db'}"
    base = f"http://127.0.0.1:{UI_PORT}/#"
    shots = pages(MlflowClient(uri), base)
    ui = ["mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(UI_PORT)]
    browser = [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1600,1000",
        f"--remote-debugging-port={DEBUG_PORT}", f"--user-data-dir={project / '.cache' / 'chromium'}", "about:blank",
    ]  # fmt: skip
    processes = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for command in (ui, browser)
    ]
    try:
        time.sleep(12)  # the UI server and the browser start
        asyncio.run(capture(shots, base, out))
    finally:
        for process in processes:
            process.terminate()


if __name__ == "__main__":
    main()
