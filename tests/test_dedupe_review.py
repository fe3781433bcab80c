"""The duplicates review in the app (issue 17): one group at a time, its files side by
side, a keeper chosen by hand, a group left alone or marked as not duplicates,
then one confirmed action on every group, undone with ctrl+z.

The folder is test_dedupe's (two groups of known copies), imported once.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from test_dedupe import snapshot, template, work  # noqa: F401 - the fixtures
from textual.widgets import Input

from conftest import settle
from planche.core import commands
from planche.tui.app import PlancheApp
from planche.tui.dedupe.card import FileCard
from planche.tui.dedupe.move import MoveScreen
from planche.tui.dedupe.review import Review
from planche.tui.dedupe.screen import ReviewScreen
from planche.tui.images import ImageMode

SIZES = [(160, 48), (80, 24)]


def _text(widget) -> str:  # noqa: ANN001 - a Static
    return str(widget.render())


def _card_texts(screen: ReviewScreen) -> list[str]:
    return [_text(card.query_one(".card-text")) for card in screen.cards]


def _plan(folder: Path) -> dict:
    return commands.run(folder / "p.duckdb", "dedupe_plan", {"action": "trash"})


def test_a_review_shows_the_keeper_chosen_by_hand_and_carries_it_to_dedupe(work):  # noqa: F811
    plan = _plan(work)
    review = Review(plan, {"action": "trash"})
    position = next(i for i, g in enumerate(plan["groups"]) if g["keeper"].endswith("a_big.jpg"))
    group = review.group(position)
    views = review.files(group)
    assert [v.fate for v in views if v.role == "keeper"] == ["keep"]
    small = next(i for i, v in enumerate(views) if v.info["path"].endswith("/a.jpg"))
    assert review.choose(position, small)
    views = review.files(group)
    assert views[small].role == "keeper" and review.rule_text(group) == "chosen by hand"
    big = next(v for v in views if v.info["path"].endswith("a_big.jpg"))
    assert big.fate == "would trash" and big.similarity is not None and big.similarity < 1
    review.toggle_left(1 - position)
    params = review.dedupe_params()
    assert params["keepers"] == [views[small].info["path"]]
    assert len(params["leave"]) == 1 and params["action"] == "trash"
    assert review.next_action() == "tag"
    review.choose_action("tag")
    assert review.dedupe_params()["action"] == "tag"


def _run_app(folder: Path, size, steps):  # noqa: ANN001
    async def main():
        app = PlancheApp(folder / "p.duckdb", images=ImageMode("none"))
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            return await steps(app, pilot)

    return asyncio.run(main())


def test_review_keep_by_hand_act_and_undo_in_the_app(work):  # noqa: F811
    photos = work / "photos"
    before = snapshot(photos)

    async def steps(app, pilot):
        await pilot.press("D")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen), "D opens the review"
        seen = []
        for _ in range(len(screen.review.groups)):
            texts = _card_texts(screen)
            seen.append(texts)
            if any("a_big.jpg" in t and "KEEP" in t for t in texts):
                break
            await pilot.press("n")
            await settle(pilot)
        title = _text(screen.query_one("#review-title"))
        # choose a.jpg (the smaller copy) as the keeper by hand
        for _ in range(len(screen.review.group(screen.position)["files"])):
            card = next(c for c in screen.cards if c.has_class("-current"))
            if card.path.endswith("/a.jpg"):
                break
            await pilot.press("l")
            await settle(pilot)
        await pilot.press("k")
        await settle(pilot)
        chosen = _card_texts(screen)
        await pilot.press("n", "s")  # the other group: left alone
        await settle(pilot)
        left_title = _text(screen.query_one("#review-title"))
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        back = not isinstance(app.screen, ReviewScreen)
        after = snapshot(photos)
        await pilot.press("ctrl+z")
        await settle(pilot)
        return seen, title, chosen, left_title, back, after

    seen, title, chosen, left_title, back, after = _run_app(work, (160, 48), steps)
    assert "Group" in title and "3 files" in title
    assert any("KEEP · chosen by hand" in t and "a.jpg" in t for t in chosen)
    assert any("a_big.jpg" in t and "WOULD TRASH" in t for t in chosen)
    assert "left alone" in left_title
    assert back, "the review closes when the action starts"
    assert "a.jpg" in after and "a_big.jpg" not in after, "the chosen keeper stays"
    assert "b_small.jpg" in after and "b.jpg" in after, "the group left alone is untouched"
    assert snapshot(photos) == before, "ctrl+z puts every file back"


def test_a_move_asks_for_its_folder_refuses_one_in_the_photos_and_moves_there(work):  # noqa: F811
    photos, moved = work / "photos", work / "moved"

    async def steps(app, pilot):
        await pilot.press("D")
        await settle(pilot)
        review = app.screen
        await pilot.press("a", "a", "a")  # tag, hard link, symbolic link
        await settle(pilot)
        symlinking = _text(review.query_one("#review-status"))
        await pilot.press("a")  # move: asks for the folder
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, MoveScreen), "move asks for its folder"
        dialog.query_one(Input).value = str(photos / "dupes")
        await pilot.press("enter")
        await settle(pilot)
        refused = (app.screen is dialog, dialog.message)
        dialog.query_one(Input).value = str(moved)
        await pilot.press("enter")
        await settle(pilot)
        back = app.screen is review
        status = _text(review.query_one("#review-status"))
        cards = []
        for _ in range(len(review.review.groups)):
            cards += _card_texts(review)
            await pilot.press("n")
            await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        question = _text(app.screen.query_one("#question"))
        await pilot.press("y")
        await settle(pilot)
        return symlinking, refused, back, status, cards, question

    symlinking, refused, back, status, cards, question = _run_app(work, (160, 48), steps)
    assert "action: symlink" in symlinking
    still_open, message = refused
    assert still_open, "a refused folder keeps the dialog open"
    assert "outside" in message and str(photos) in message, message
    assert not (photos / "dupes").exists()
    assert back and f"action: move into {moved}" in status, status
    # the plan shows where each copy goes, below its path in the imported folder
    assert any("a_copy.jpg" in t and "WOULD MOVE → edits/a_copy.jpg" in t for t in cards), cards
    assert any("b_small.jpg" in t and "WOULD MOVE → b_small.jpg" in t for t in cards), cards
    assert f"Move 3 files into {moved}" in question
    assert (moved / "edits" / "a_copy.jpg").is_file() and (moved / "b_small.jpg").is_file()
    assert not (photos / "b_small.jpg").exists() and (photos / "b.jpg").exists()
    dedupe = [e for e in commands.history(work / "p.duckdb") if e["command"] == "dedupe"]
    assert dedupe[-1]["params"]["action"] == f"move:{moved}", "as `--action move:DIR` gives it"


def test_not_duplicates_from_the_review_is_remembered(work):  # noqa: F811
    async def steps(app, pilot):
        await pilot.press("D")
        await settle(pilot)
        screen = app.screen
        groups = len(screen.review.groups)
        await pilot.press("x")
        await settle(pilot)
        title = _text(screen.query_one("#review-title"))
        await pilot.press("escape")
        await settle(pilot)
        return groups, title

    groups, title = _run_app(work, (80, 24), steps)
    assert "marked as not duplicates" in title
    again = _plan(work)
    assert len(again["groups"]) == groups - 1, "the marked group is not proposed again"


def test_cards_fit_the_terminal_and_a_gone_file_is_left_with_its_thumbnail(work):  # noqa: F811
    photos = work / "photos"
    (photos / "b_small.jpg").unlink()

    async def steps(app, pilot):
        await pilot.press("D")
        await settle(pilot)
        screen = app.screen
        widths = [card.size.width for card in screen.query(FileCard)]
        gone = None
        for _ in range(len(screen.review.groups)):
            for _ in range(3):
                for card in screen.cards:
                    text = _text(card.query_one(".card-text"))
                    if "b_small.jpg" in text and card.has_class("-current"):
                        picture = card.query_one(".card-picture")
                        for _ in range(12):  # until the stored thumbnail is drawn
                            await pilot.pause(0.05)
                            if picture._strips:
                                break
                        gone = (text, bool(picture._strips))
                await pilot.press("l")
                await settle(pilot)
            await pilot.press("n")
            await settle(pilot)
        return widths, gone

    for size in SIZES:
        widths, gone = _run_app(work, size, steps)
        assert widths and sum(widths) <= size[0] and min(widths) >= 30
        assert gone is not None
        text, drawn = gone
        assert "left" in text and "gone" in text
        assert drawn, "the stored thumbnail stands in for the file"


def test_i_finds_mirrored_copies_and_shows_their_similarity_after_the_mirror(tmp_path):
    from conftest import jpeg_bytes, photo_like, write_good_images

    folder = tmp_path / "photos"
    folder.mkdir()
    picture = photo_like(5, (192, 128))
    (folder / "p.jpg").write_bytes(jpeg_bytes(picture))
    (folder / "p_mirrored.jpg").write_bytes(jpeg_bytes(picture.transpose(0)))
    (folder / "p_copy.jpg").write_bytes(jpeg_bytes(picture))
    write_good_images(folder, 2, start_seed=40)
    commands.run(tmp_path / "p.duckdb", "import", {"folder": str(folder), "embedder": "pixels"})

    async def steps(app, pilot):
        await pilot.press("D")
        await settle(pilot)
        screen = app.screen
        before = [len(g["files"]) for g in screen.review.groups]
        await pilot.press("i")
        await settle(pilot)
        after = [len(g["files"]) for g in screen.review.groups]
        status = _text(screen.query_one("#review-status"))
        return before, after, status, _card_texts(screen)

    before, after, status, cards = _run_app(tmp_path, (160, 48), steps)
    assert before == [2] and after == [3], "the mirrored copy joins its group"
    assert "mirrored copies too" in status
    keeper = next(t for t in cards if "KEEP" in t)
    mirrored_keeper = "p_mirrored.jpg" in keeper
    for text in cards:
        if "KEEP" in text:
            continue
        # the cosine after the mirror that matched them (as they are: about 0.1)
        found = re.search(r"similarity (to the keeper )?(-?[\d.]+)(.*)", text)
        assert found and float(found[2]) > 0.95, text
        mirrored = mirrored_keeper != ("p_mirrored.jpg" in text)
        assert found[3] == (" · mirrored" if mirrored else ""), text


def test_d_reviews_the_duplicates_of_the_filtered_view_only(work):  # noqa: F811
    async def steps(app, pilot):
        await pilot.press("f")
        await settle(pilot)
        typed = ["space" if c == " " else c for c in "name:b_ or name:b.jpg"]  # group B alone
        await pilot.press(*typed, "enter")
        await settle(pilot)
        shown = len(app.query_one("#grid").image_ids)
        await pilot.press("D")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        groups = screen.review.groups
        return shown, [sorted(Path(f["path"]).name for f in g["files"]) for g in groups]

    shown, groups = _run_app(work, (160, 48), steps)
    assert shown == 2
    assert groups == [["b.jpg", "b_small.jpg"]], "group A is not in the view"
