"""Reads a folder of event files with TensorBoard's own reader (EventAccumulator) and prints
what it found as JSON: every scalar (step, value), every image (step, width, height) and every
histogram (step, count of values), by tag. Used by tests/tensorboard.rs."""

import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main(folder):
    # 0: keep every event, not TensorBoard's default sample.
    acc = EventAccumulator(folder, size_guidance={"scalars": 0, "images": 0, "histograms": 0})
    acc.Reload()
    tags = acc.Tags()
    out = {
        "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
        "images": {
            t: [[e.step, e.width, e.height, len(e.encoded_image_string)] for e in acc.Images(t)]
            for t in tags["images"]
        },
        "histograms": {
            t: [[e.step, e.histogram_value.num] for e in acc.Histograms(t)]
            for t in tags["histograms"]
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
