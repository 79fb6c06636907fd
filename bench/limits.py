#!/usr/bin/env python3
"""What the default limits let one client take (issue 12), measured.

Starts the server binary on a seeded database (`conduit-gateway seed`),
then:
- sends the largest answers one request can build within the default
  limits, and records bytes, seconds and the server's peak resident memory
  (VmHWM in /proc/<pid>/status) for each;
- sends the issue's hostile requests and checks each is refused;
- sends N distinct ~900 KB documents (a comment around a valid query) and
  records resident memory before and after.

Usage: bench/limits.py BINARY DATABASE_URL [DOCUMENTS]
Standard library only.
"""

import json
import socket
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    raise KeyError(key)


def post(url, body):
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"content-type": "application/json"}
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            code = response.status
    except urllib.error.HTTPError as error:
        raw = error.read()
        code = error.code
    return code, raw, time.monotonic() - started


LARGEST = {
    # Costs by `graphql::cost`: text weighs its longest value in units of
    # 200 characters (article body 500, comment body 50, bio and image 10,
    # description 5), every other field 1, pages times their size.
    # 99 article bodies (cost 49,600).
    "article bodies": "{ articles(first: 99) { nodes { body } } }",
    # 9 articles x 100 comment bodies (cost 45,919).
    "comment bodies": "{ articles(first: 9) { nodes { comments(first: 100) { nodes { body } } } } }",
    # 20 articles' authors' 100 followers: username, bio, image (cost 46,061).
    "profiles": "{ articles(first: 20) { nodes { author { followers(first: 100) { nodes { username bio image } } } } } }",
    # 60 articles' authors' 100 articles: title, description, tags (cost 48,181).
    "article cards": "{ articles(first: 60) { nodes { author { articles(first: 100) { nodes { title description tags } } } } } }",
    # The fields that weigh 1 however long: 100 x 100 articles' slugs, titles
    # and tags (cost 40,401), and 80 aliases of 99 x (slug title tags
    # createdAt updatedAt) pages (cost 47,600; a batch costs the same).
    "slugs, titles, tags": "{ articles(first: 100) { nodes { author { articles(first: 100) { nodes { slug title tags } } } } } }",
    "aliased pages": "{ "
    + " ".join(
        f"a{i}: articles(first: 99, orderBy: {'OLDEST' if i % 2 else 'NEWEST'}) {{ nodes {{ slug title tags createdAt updatedAt }} }}"
        for i in range(80)
    )
    + " }",
}


def write_longest(url):
    """One author writes the longest values the API allows: 100 articles
    (200-character titles, 1,000-character descriptions, 100,000-character
    bodies, 10 tags of 32 characters), 100 comments of 10,000 characters on
    each of the 9 newest, a 2,000-character bio and a 2,048-character image
    URL. The newest pages are then all theirs."""
    def gql(query, variables, token=None):
        data = json.dumps({"query": query, "variables": variables}).encode()
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = "Bearer " + token
        request = urllib.request.Request(url, data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
        assert "errors" not in body, body
        return body["data"]

    signed = gql(
        "mutation($i: SignUpInput!) { signUp(input: $i) { token } }",
        {"i": {"username": "longest", "email": "longest@example.com", "password": "password-1"}},
    )
    token = signed["signUp"]["token"]
    image = "https://example.com/" + "i" * (2048 - len("https://example.com/"))
    gql("mutation($i: UpdateViewerInput!) { updateViewer(input: $i) { id } }",
        {"i": {"bio": "b" * 2000, "image": image}}, token)
    tags = [f"{i:02d}" + "t" * 30 for i in range(10)]
    slugs = []
    for n in range(100):
        created = gql(
            "mutation($i: CreateArticleInput!) { createArticle(input: $i) { slug } }",
            {"i": {"title": f"{n:03d}" + "T" * 197, "description": "d" * 1000,
                   "body": "B" * 100_000, "tags": tags}},
            token,
        )
        slugs.append(created["createArticle"]["slug"])
    for slug in slugs[-9:]:
        for _ in range(100):
            gql("mutation($s: String!, $b: String!) { addComment(articleSlug: $s, body: $b) { id } }",
                {"s": slug, "b": "c" * 10_000}, token)
    # Followers for the profile rows: the author follows the most followed
    # users' followers would need their tokens; the author's own profile
    # repeats in every row of the pages above instead.


def largest_answers(url, pid, largest):
    print("| answer | bytes | seconds | peak resident (MiB) |")
    print("|---|---|---|---|")
    for name, query in largest.items():
        code, raw, seconds = post(url, {"query": query})
        body = json.loads(raw)
        assert code == 200 and "errors" not in body, (name, raw[:300])
        peak = status(pid, "VmHWM") // 1024
        print(f"| {name} | {len(raw):,} | {seconds:.2f} | {peak} |")


def main():
    binary, database_url = sys.argv[1], sys.argv[2]
    documents = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    port = free_port()
    server = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{port}", "--database-url", database_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        post(url, {"query": "{ popularTags { name } }"})
        print(f"resident at start: {status(server.pid, 'VmRSS') // 1024} MiB")
        # The most followed author among the newest articles' (the seed's
        # popularity is skewed: thousands of followers, hundreds of articles).
        _, raw, _ = post(url, {"query": "{ articles(first: 100) { nodes { author { username followersCount } } } }"})
        authors = [n["author"] for n in json.loads(raw)["data"]["articles"]["nodes"]]
        popular = max(authors, key=lambda a: a["followersCount"])["username"]
        print(f"most followed: {popular}")
        largest = dict(LARGEST)
        largest["a popular author's followers' profiles"] = (
            f'{{ user(username: "{popular}") {{ followers(first: 100) {{ nodes {{ '
            "followers(first: 20) { nodes { username bio image } } } } } }"
        )
        comments = "comments(first: 100) { nodes { body } }"
        largest["a popular author's articles' comment bodies"] = (
            f'{{ a: user(username: "{popular}") {{ articles(first: 4) {{ nodes {{ {comments} }} }} }} '
            f'b: user(username: "{popular}") {{ favorites(first: 4) {{ nodes {{ {comments} }} }} }} }}'
        )
        largest["a popular author's followers' article cards"] = (
            f'{{ user(username: "{popular}") {{ followers(first: 60) {{ nodes {{ '
            "articles(first: 100) { nodes { title description tags } } } } } }"
        )
        largest_answers(url, server.pid, largest)
        print("after one author wrote the longest values allowed:")
        write_longest(url)
        largest_answers(url, server.pid, largest)

        nested = "id"
        for _ in range(7):
            nested = f"followers(first: 2147483647) {{ nodes {{ {nested} }} }}"
        real = "username"
        for _ in range(7):
            real = f"followers(first: 100) {{ nodes {{ {real} }} }}"
        refused = {
            "2,000 nested lists": "{ nodes(ids: " + "[" * 2000 + '"x"' + "]" * 2000 + ") { id } }",
            "steered first": '{ node(id: "x") { ... on User { ' + nested + " } } }",
            "seven pages of 100": "{ articles(first: 100) { nodes { author { " + real + " } } } }",
            "100 signIns": "mutation { "
            + " ".join(
                f'a{i}: signIn(input: {{ email: "x@example.com", password: "password" }}) {{ token }}'
                for i in range(100)
            )
            + " }",
        }
        for name, query in refused.items():
            code, raw, seconds = post(url, {"query": query})
            body = json.loads(raw)
            assert "data" not in body or body["data"] is None, (name, raw[:300])
            print(f"refused: {name}: {code} {body['errors'][0]['extensions']['code']} in {seconds:.3f} s")

        padding = "# " + "x" * (900 * 1024) + "\n"
        before = status(server.pid, "VmRSS")
        started = time.monotonic()
        for i in range(documents):
            code, _, _ = post(url, {"query": f"{padding}{{ t{i}: popularTags {{ name }} }}"})
            assert code == 200
        after = status(server.pid, "VmRSS")
        print(
            f"{documents:,} distinct 900 KB documents in {time.monotonic() - started:.0f} s: "
            f"resident {before // 1024} -> {after // 1024} MiB"
        )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
