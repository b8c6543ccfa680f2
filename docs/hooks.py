"""mkdocs hook: after the build, write assets/javascripts/offline-search.js,
the search index and the search worker's code as one script, which
theme/main.html loads when the site is opened from file://."""

import glob
import json
import os


def on_post_build(config, **kwargs):
    site = config["site_dir"]
    index_path = os.path.join(site, "search", "search_index.json")
    workers = glob.glob(os.path.join(site, "assets", "javascripts", "workers", "search.*.min.js"))
    if not os.path.exists(index_path) or len(workers) != 1:
        raise RuntimeError("offline search: no search index or no single search worker "
                           f"in {site}; is the search plugin on?")
    with open(index_path, encoding="utf-8") as f:
        index = json.load(f)
    with open(workers[0], encoding="utf-8") as f:
        worker = f.read()
    out = os.path.join(site, "assets", "javascripts", "offline-search.js")
    with open(out, "w", encoding="utf-8") as f:
        f.write("var __md_offline = ")
        f.write(json.dumps({"index": index, "worker": worker}))
        f.write(";\n")
