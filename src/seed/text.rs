//! Words and sentence templates for demo content: names, bios, titles,
//! article bodies and comments that read like a developer blog, built from
//! fixed lists so a seed reproduces them exactly.

use rand::Rng;
use rand::seq::IndexedRandom as _;

/// Tag names, most popular first: `plan` gives a tag a weight by its place.
#[rustfmt::skip]
pub(super) const TAGS: &[&str] = &[
    "javascript", "programming", "webdev", "python", "beginners", "tutorial", "react", "rust",
    "typescript", "devops", "career", "productivity", "opensource", "go", "css", "node",
    "docker", "kubernetes", "aws", "database", "postgres", "security", "testing",
    "architecture", "graphql", "api", "linux", "git", "machinelearning", "ai", "datascience",
    "cloud", "frontend", "backend", "java", "kotlin", "swift", "android", "ios", "flutter",
    "vue", "svelte", "angular", "nextjs", "html", "accessibility", "design", "ux",
    "performance", "sql", "sqlite", "mysql", "redis", "kafka", "microservices", "serverless",
    "terraform", "ansible", "ci", "cd", "github", "gitlab", "vim", "vscode", "shell", "bash",
    "networking", "http", "websockets", "grpc", "rest", "oauth", "cryptography", "privacy",
    "blockchain", "webassembly", "embedded", "iot", "gamedev", "unity", "csharp", "dotnet",
    "cpp", "c", "haskell", "elixir", "erlang", "scala", "clojure", "ocaml", "zig", "php",
    "laravel", "ruby", "rails", "django", "flask", "fastapi", "spring", "deno", "bun",
    "tailwind", "sass", "webpack", "vite", "esbuild", "monorepo", "npm", "cargo", "async",
    "concurrency", "compilers", "algorithms", "datastructures", "math", "statistics", "pandas",
    "numpy", "pytorch", "tensorflow", "llm", "nlp", "computervision", "observability",
    "logging", "monitoring", "tracing", "prometheus", "grafana", "sre", "incident", "oncall",
    "leadership", "management", "hiring", "interviewing", "remote", "freelance", "startup",
    "product", "agile", "scrum", "documentation", "writing", "mentoring", "learning",
    "refactoring", "cleancode", "tdd", "debugging", "codereview", "pairprogramming",
    "functional", "oop", "typesystems", "generics", "macros", "memory", "garbagecollection",
    "caching", "cdn", "dns", "tls", "linuxkernel", "filesystems", "distributedsystems",
    "consensus", "raft", "eventsourcing", "cqrs", "ddd", "messaging", "queues", "streaming",
    "etl", "analytics", "bigdata", "spark", "dataengineering", "nosql", "mongodb",
    "elasticsearch", "search", "migrations", "orm", "indexing", "scaling", "loadbalancing",
    "nginx", "caddy", "homelab", "raspberrypi", "arduino", "electronics", "robotics", "mobile",
    "pwa", "browsers", "chrome", "firefox", "i18n", "animation", "canvas", "webgl", "threejs",
    "svg", "openai", "chatbots", "automation", "scripting", "regex", "json", "yaml",
];

#[rustfmt::skip]
const FIRST_NAMES: &[&str] = &[
    "ada", "alan", "alice", "amara", "ana", "anders", "aria", "arjun", "ben", "bjarne", "carla",
    "chen", "chloe", "dana", "daniel", "diego", "elena", "eli", "emma", "farah", "felix",
    "grace", "hana", "hiro", "ines", "ivan", "jade", "james", "jana", "jonas", "julia", "kai",
    "kenji", "lara", "leo", "lina", "linus", "lucas", "maya", "mei", "mia", "nadia", "noah",
    "nora", "olga", "omar", "oscar", "priya", "rafael", "rosa", "sam", "sara", "sofia", "tariq",
    "theo", "uma", "vera", "wei", "yara", "yusuf", "zoe",
];

#[rustfmt::skip]
const LAST_NAMES: &[&str] = &[
    "adams", "ahmed", "bauer", "berg", "costa", "cruz", "dubois", "eriksen", "fischer",
    "garcia", "gupta", "hansen", "ito", "ivanova", "jensen", "kim", "kowalski", "lee", "lopez",
    "martin", "meyer", "moreau", "nakamura", "nguyen", "novak", "okafor", "olsen", "park",
    "patel", "petrov", "quinn", "rossi", "santos", "schmidt", "silva", "singh", "smith",
    "tanaka", "torres", "wagner", "walker", "wang", "weber", "williams", "wong", "yamada",
    "zhang",
];

const BIOS: &[&str] = &[
    "Backend engineer who likes boring technology and fast builds.",
    "Frontend developer. Accessibility advocate. Coffee enthusiast.",
    "Writing about {t} and the things I break along the way.",
    "Staff engineer. I mostly draw boxes and arrows these days.",
    "Self-taught developer, previously a chef. Still cooking, now with {t}.",
    "Open source maintainer. Opinions are my own and change often.",
    "I teach {t} to people who thought they could not code.",
    "Site reliability engineer; I have seen things in production.",
    "Building tools for developers. Currently obsessed with {t}.",
    "Student, learning in public.",
    "Engineering manager who still sneaks in a pull request now and then.",
    "Data engineer. Pipelines, queues and too many dashboards.",
    "Freelance developer helping small teams ship with {t}.",
    "Security researcher. Please rotate your keys.",
];

#[rustfmt::skip]
const ADJECTIVES: &[&str] = &[
    "practical", "gentle", "complete", "opinionated", "pragmatic", "modern", "hidden",
    "surprising", "boring", "simple", "honest", "minimal", "better", "faster", "safer",
    "underrated", "missing", "real-world", "hard-won", "quick",
];

#[rustfmt::skip]
const NOUNS: &[&str] = &[
    "tips", "secrets", "mistakes", "patterns", "lessons", "tricks", "habits", "pitfalls",
    "trade-offs", "ideas", "notes", "tools", "rules", "questions", "myths",
];

#[rustfmt::skip]
const THINGS: &[&str] = &[
    "deploy pipeline", "test suite", "side project", "team", "API", "build", "codebase",
    "monolith", "data pipeline", "database", "dashboard", "release process", "on-call rotation",
    "open source project", "design system", "mobile app", "CLI", "search service", "billing
    system", "staging environment",
];

const TITLE_TEMPLATES: &[&str] = &[
    "A {a} guide to {T}",
    "{N} {n} I learned the hard way with {T}",
    "Why we moved our {x} to {T}",
    "How {T} changed the way I think about {x}",
    "The {a} {n} of {T}",
    "Getting started with {T} in {y}",
    "{T} in production: {N} {n}",
    "Stop doing this in {T}",
    "What nobody tells you about {T}",
    "From zero to {T} in a weekend",
    "{T} vs {U}: which one, and when",
    "Building our {x} with {T} and {U}",
    "Debugging {T}: {a} {n}",
    "Is {T} still worth learning in {y}?",
    "My {a} {T} setup",
    "Scaling our {x} with {T}",
    "{N} {a} {n} for {T}",
    "Understanding {T} from first principles",
];

const DESCRIPTIONS: &[&str] = &[
    "What I wish I had known before using {t} at work.",
    "A walk through the decisions, the mistakes and what we would do again.",
    "Short, opinionated and tested on a real {x}.",
    "Everything we learned after a year of {t} in production.",
    "A hands-on introduction with code you can copy.",
    "Notes from rebuilding our {x} around {t}.",
    "The trade-offs, measured rather than guessed.",
    "A story about {t}, a deadline and a lot of coffee.",
    "How a small team got big results with {t}.",
    "Less theory, more working examples.",
];

const SENTENCES: &[&str] = &[
    "When we first adopted {t}, nobody on the team had used it before.",
    "The documentation is good, but it assumes you already know why you want it.",
    "Our {x} had grown for five years without anyone owning it.",
    "The first version worked, and that was exactly the problem.",
    "It is tempting to reach for {t} whenever something feels slow.",
    "Measure first, then decide; the profiler disagreed with every one of our guesses.",
    "Most of the complexity came from state we did not know we had.",
    "We wrote the smallest thing that could possibly work and shipped it on a Friday.",
    "That turned out to be a mistake, but a cheap one.",
    "The error messages from {t} are better than they used to be.",
    "If you remember one thing from this post, make it this: keep the feedback loop short.",
    "Tests gave us the confidence to change the {x} without fear.",
    "Nobody reads a design document that is longer than the code it describes.",
    "A good default beats a page of configuration options.",
    "We moved the slow part into a background job and the complaints stopped.",
    "Caching hid the problem for a while, then made it much harder to find.",
    "The migration took three weeks instead of three days.",
    "In hindsight, the warning signs were in the logs all along.",
    "Pairing on the hard parts saved us more time than it cost.",
    "Here is the part of {t} that finally made it click for me.",
    "Every abstraction leaks eventually; the question is how gracefully.",
    "We kept the old {x} running in parallel until the numbers matched.",
    "Naming things is still the hardest part of the job.",
    "The community around {t} is friendly and surprisingly fast to answer questions.",
    "Code review caught the bug, but only because the change was small.",
    "Our on-call engineers noticed the difference within a week.",
    "It is not magic; it is a handful of simple ideas applied consistently.",
    "The benchmark numbers looked great until we tried real data.",
    "Reading the source was faster than searching for an answer.",
    "We deleted more code than we wrote, which is usually a good sign.",
    "Start with the boring solution and earn the right to be clever.",
    "The learning curve is real, but it flattens out after the first month.",
    "Latency dropped by half, and memory use by even more.",
    "Documentation is a feature, and users notice when it is missing.",
    "A checklist turned a stressful release into a routine one.",
    "The best part of {t} is how little you have to think about it once it is set up.",
    "Automate it the third time you do it by hand.",
    "Small pull requests get reviewed; large ones get approved.",
    "Be suspicious of any tool that promises to make every problem disappear.",
    "I would still choose {t} today, with a few caveats.",
];

#[rustfmt::skip]
const HEADINGS: &[&str] = &[
    "Background", "The problem", "What we tried", "What worked", "Results", "Lessons",
    "Trade-offs", "Next steps", "Wrapping up", "Further reading",
];

const COMMENTS: &[&str] = &[
    "Great write-up, thanks for sharing!",
    "This matches my experience almost exactly.",
    "Have you tried doing the same with {t}?",
    "I ran into the same problem last month.",
    "Bookmarked, this is going straight to my team.",
    "Could you share the benchmark code?",
    "I respectfully disagree with the second point.",
    "The part about testing was especially useful.",
    "We did something similar and it worked well.",
    "Thanks, this finally made it click for me.",
    "How did you handle the migration of existing data?",
    "Nice, but I think caching would have been simpler.",
    "Looking forward to the next part!",
    "This deserves more attention.",
    "Which version of {t} were you using?",
    "Clear and to the point. More posts like this, please.",
    "I would love to see a follow-up on the trade-offs.",
    "Small nitpick: the second example has a typo.",
    "We switched to {t} for the same reasons.",
    "Did the team push back at first?",
];

/// Fills `{t}` (the article's topic) and `{x}` (a thing) in `template`.
fn fill(rng: &mut impl Rng, template: &str, topic: &str, out: &mut String) {
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let key = &rest[start + 1..start + 2];
        match key {
            "t" => out.push_str(topic),
            _ => out.push_str(pick(rng, THINGS)),
        }
        rest = &rest[start + 3..];
    }
    out.push_str(rest);
}

fn pick<'a>(rng: &mut impl Rng, list: &[&'a str]) -> &'a str {
    list.choose(rng).copied().unwrap_or_default()
}

/// Name-like, lower-case usernames; the caller makes them unique.
pub(super) fn username(rng: &mut impl Rng) -> String {
    let first = pick(rng, FIRST_NAMES);
    let last = pick(rng, LAST_NAMES);
    match rng.random_range(0..4) {
        0 => format!("{first}{last}"),
        1 => format!("{first}_{last}"),
        2 => format!("{first}-{last}"),
        _ => format!("{last}{}", &first[..1]),
    }
}

pub(super) fn bio(rng: &mut impl Rng, topic: &str) -> String {
    let mut out = String::new();
    let template = pick(rng, BIOS);
    fill(rng, template, topic, &mut out);
    out
}

/// A tag name's display form in titles: `rust` → `Rust`.
fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A title about `topic` (and `other`, for comparisons).
pub(super) fn title(rng: &mut impl Rng, topic: &str, other: &str) -> String {
    let template = pick(rng, TITLE_TEMPLATES);
    let mut out = String::with_capacity(64);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        match &rest[start + 1..start + 2] {
            "T" => out.push_str(&capitalized(topic)),
            "U" => out.push_str(&capitalized(other)),
            "a" => out.push_str(pick(rng, ADJECTIVES)),
            "n" => out.push_str(pick(rng, NOUNS)),
            "N" => out.push_str(&rng.random_range(3..=12).to_string()),
            "y" => out.push_str(if rng.random_bool(0.5) { "2025" } else { "2026" }),
            _ => out.push_str(pick(rng, THINGS)),
        }
        rest = &rest[start + 3..];
    }
    out.push_str(rest);
    // Templates start with a placeholder or a capital; make sure of the capital.
    capitalized(&out)
}

pub(super) fn description(rng: &mut impl Rng, topic: &str) -> String {
    let mut out = String::new();
    let template = pick(rng, DESCRIPTIONS);
    fill(rng, template, topic, &mut out);
    out
}

/// Markdown paragraphs (with a heading now and then), 1.5 to 2 KB.
pub(super) fn body(rng: &mut impl Rng, topic: &str) -> String {
    let target = rng.random_range(1_500..2_000);
    let mut out = String::with_capacity(target + 200);
    while out.len() < target {
        if !out.is_empty() {
            out.push_str("\n\n");
            if rng.random_bool(0.3) {
                out.push_str("## ");
                out.push_str(pick(rng, HEADINGS));
                out.push_str("\n\n");
            }
        }
        // Distinct sentences: a paragraph that repeats itself reads as a bug.
        let count = rng.random_range(3..=6);
        let sentences: Vec<&str> = SENTENCES.choose_multiple(rng, count).copied().collect();
        for (i, sentence) in sentences.into_iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            fill(rng, sentence, topic, &mut out);
        }
    }
    out
}

/// One to three sentences.
pub(super) fn comment(rng: &mut impl Rng, topic: &str) -> String {
    let mut out = String::new();
    for i in 0..rng.random_range(1..=3) {
        if i > 0 {
            out.push(' ');
        }
        let list = if i == 0 { COMMENTS } else { SENTENCES };
        let template = pick(rng, list);
        fill(rng, template, topic, &mut out);
    }
    out
}

/// The name of tag number `index` (0-based): the list first, then the list
/// again with a suffix, for more tags than it has.
pub(super) fn tag_name(index: usize) -> String {
    let base = TAGS[index % TAGS.len()];
    match index / TAGS.len() {
        0 => base.to_owned(),
        round => format!("{base}-{}", round + 1),
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn tag_names_are_unique_and_lower_case() {
        let names: Vec<String> = (0..TAGS.len() * 3).map(tag_name).collect();
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert!(names.iter().all(|n| {
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        }));
        assert!(TAGS.len() >= 200);
    }

    #[test]
    fn bodies_are_one_and_a_half_to_two_and_a_half_kilobytes() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            let body = body(&mut rng, "rust");
            assert!((1_500..2_600).contains(&body.len()), "{}", body.len());
            assert!(!body.contains('{'));
        }
    }

    #[test]
    fn titles_have_every_placeholder_filled() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..200 {
            let title = title(&mut rng, "rust", "go");
            assert!(!title.contains('{') && !title.contains('}'), "{title}");
            let comment = comment(&mut rng, "rust");
            assert!(!comment.contains('{'), "{comment}");
        }
    }
}
