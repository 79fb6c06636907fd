//! The shape of the demo data, decided before anything is written: who
//! exists when, who wrote, followed, favorited and commented on what, and so
//! every counter. Text comes later, row by row, in `write`.
//!
//! Indices are 0-based here; a row's id is its index + 1. Ids follow
//! `created_at`, as they would in a database that grew by itself.

use std::collections::HashSet;

use rand::Rng;
use rand::seq::SliceRandom as _;

use super::Sizes;

const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;
/// Where the timeline ends: 2026-11-01T00:00:00Z. A fixed instant, not now,
/// so the same seed gives the same rows on any day.
pub(super) const END: i64 = 1_793_491_200 * 1_000_000;
/// About two years of history.
const SPAN: i64 = 730 * MICROS_PER_DAY;
const START: i64 = END - SPAN;
/// The least time between two related events (an article and its first
/// comment, a sign-up and a follow), so "after" is never "at the same time".
const GAP: i64 = 1_000_000;

pub(super) struct User {
    pub(super) created: i64,
    pub(super) updated: i64,
    pub(super) followers: i64,
    pub(super) following: i64,
}

pub(super) struct Article {
    pub(super) author: u32,
    pub(super) created: i64,
    pub(super) updated: i64,
    /// Tag indices in the author's order (the `position` column).
    pub(super) tags: Vec<u32>,
    pub(super) favorites: i64,
    pub(super) comments: i64,
}

/// A follow (follower, followee) or a favorite (user, article).
pub(super) struct Pair {
    pub(super) from: u32,
    pub(super) to: u32,
    pub(super) created: i64,
}

pub(super) struct Comment {
    pub(super) article: u32,
    pub(super) author: u32,
    pub(super) created: i64,
    pub(super) updated: i64,
}

pub(super) struct Plan {
    pub(super) users: Vec<User>,
    /// Each tag's `articles_count`.
    pub(super) tags: Vec<i64>,
    pub(super) articles: Vec<Article>,
    pub(super) follows: Vec<Pair>,
    pub(super) favorites: Vec<Pair>,
    pub(super) comments: Vec<Comment>,
}

impl Plan {
    pub(super) fn article_tags(&self) -> usize {
        self.articles.iter().map(|a| a.tags.len()).sum()
    }
}

/// Draws indices with probability proportional to fixed weights.
struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    fn new(weights: &[f64]) -> Self {
        let mut total = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        Self { cumulative }
    }

    fn sample(&self, rng: &mut impl Rng) -> u32 {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.random::<f64>() * total;
        let index = self.cumulative.partition_point(|&c| c <= x);
        index.min(self.cumulative.len().saturating_sub(1)) as u32
    }
}

/// Zipf-like weights, 1 / (rank + offset)^exponent, handed out to the items
/// in a random order so that popularity does not follow the ids.
fn zipf(rng: &mut impl Rng, n: usize, offset: f64, exponent: f64) -> Vec<f64> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let mut weights = vec![0.0; n];
    for (rank, item) in order.into_iter().enumerate() {
        weights[item] = (rank as f64 + offset).powf(-exponent);
    }
    weights
}

/// A moment between `after` (exclusive, by at least `GAP`) and the end of
/// the timeline, close to `after` more often than not (`skew` > 1).
fn moment_after(rng: &mut impl Rng, after: i64, skew: i32) -> i64 {
    let from = after + GAP;
    let room = (END - from).max(0) as f64;
    from + (room * rng.random::<f64>().powi(skew)) as i64
}

/// A later edit now and then: `updated_at` is `created_at` otherwise.
fn maybe_edited(rng: &mut impl Rng, created: i64, chance: f64) -> i64 {
    if rng.random_bool(chance) {
        moment_after(rng, created, 4)
    } else {
        created
    }
}

pub(super) fn plan(rng: &mut impl Rng, sizes: &Sizes) -> Plan {
    // Sign-ups grow over time (density rises linearly), and stop a while
    // before the end so the newest users still have time to do things.
    let mut signups: Vec<i64> = (0..sizes.users)
        .map(|_| START + (SPAN as f64 * 0.9 * rng.random::<f64>().sqrt()) as i64)
        .collect();
    signups.sort_unstable();
    let mut users: Vec<User> = signups
        .into_iter()
        .map(|created| User {
            created,
            updated: maybe_edited(rng, created, 0.25),
            followers: 0,
            following: 0,
        })
        .collect();

    // Who writes: a few authors write most articles. Who is famous (is
    // followed): mostly the same people, give or take. Who reads (follows,
    // favorites, comments): skewed too, less steeply.
    let writing = zipf(rng, users.len(), 5.0, 1.0);
    let fame: Vec<f64> = writing
        .iter()
        .map(|w| w * 4f64.powf(rng.random_range(-1.0..1.0)))
        .collect();
    let reading = zipf(rng, users.len(), 30.0, 0.9);
    let (writers, famous, readers) = (
        Weighted::new(&writing),
        Weighted::new(&fame),
        Weighted::new(&reading),
    );
    // The first tags in the list are the common ones.
    let tag_weights: Vec<f64> = (0..sizes.tags)
        .map(|rank| (rank as f64 + 2.0).powf(-1.1))
        .collect();
    let tag_picker = Weighted::new(&tag_weights);

    let mut articles: Vec<Article> = (0..sizes.articles)
        .map(|_| {
            let author = writers.sample(rng);
            let created = moment_after(rng, users[author as usize].created, 1);
            Article {
                author,
                created,
                updated: maybe_edited(rng, created, 0.3),
                tags: Vec::new(),
                favorites: 0,
                comments: 0,
            }
        })
        .collect();
    articles.sort_by_key(|a| (a.created, a.author));
    let mut tags = vec![0i64; sizes.tags];
    for article in &mut articles {
        let wanted = [1, 2, 2, 3, 3, 3, 4, 4, 5][rng.random_range(0..9)].min(sizes.tags);
        while article.tags.len() < wanted {
            let mut tag = tag_picker.sample(rng);
            // A popular tag drawn twice: retry a few times, then take the
            // first one the article lacks, so this always ends.
            for _ in 0..16 {
                if !article.tags.contains(&tag) {
                    break;
                }
                tag = tag_picker.sample(rng);
            }
            if article.tags.contains(&tag) {
                tag = (0..sizes.tags as u32)
                    .find(|t| !article.tags.contains(t))
                    .unwrap_or(tag);
            }
            article.tags.push(tag);
            tags[tag as usize] += 1;
        }
    }

    // Some articles take off: most favorites and comments go to a few.
    let popular = Weighted::new(&zipf(rng, articles.len(), 10.0, 1.0));

    let follows = pairs(
        rng,
        sizes.follows,
        (users.len(), users.len()),
        true,
        |rng| (readers.sample(rng), famous.sample(rng)),
        |rng, from, to| {
            let after = users[from as usize].created.max(users[to as usize].created);
            moment_after(rng, after, 2)
        },
    );
    for follow in &follows {
        users[follow.from as usize].following += 1;
        users[follow.to as usize].followers += 1;
    }

    let favorites = pairs(
        rng,
        sizes.favorites,
        (users.len(), articles.len()),
        false,
        |rng| (readers.sample(rng), popular.sample(rng)),
        |rng, user, article| {
            let after = articles[article as usize]
                .created
                .max(users[user as usize].created);
            moment_after(rng, after, 3)
        },
    );
    for favorite in &favorites {
        articles[favorite.to as usize].favorites += 1;
    }

    let mut comments: Vec<Comment> = (0..sizes.comments)
        .map(|_| {
            let article = popular.sample(rng);
            let author = readers.sample(rng);
            let after = articles[article as usize]
                .created
                .max(users[author as usize].created);
            let created = moment_after(rng, after, 3);
            Comment {
                article,
                author,
                created,
                updated: maybe_edited(rng, created, 0.1),
            }
        })
        .collect();
    comments.sort_by_key(|c| (c.created, c.article, c.author));
    for comment in &comments {
        articles[comment.article as usize].comments += 1;
    }

    Plan {
        users,
        tags,
        articles,
        follows,
        favorites,
        comments,
    }
}

/// `count` distinct pairs out of `from` × `to` (without (x, x) when
/// `distinct`), drawn by `draw`, sorted by key: the primary key's order.
///
/// # Implementation notes
/// Sparse requests draw with rejection, falling back to uniform draws when
/// the skewed ones keep hitting taken pairs, so it always finishes quickly.
/// Requests for more than half of all pairs enumerate them and shuffle.
fn pairs<R: Rng>(
    rng: &mut R,
    count: usize,
    (from, to): (usize, usize),
    distinct: bool,
    draw: impl Fn(&mut R) -> (u32, u32),
    moment: impl Fn(&mut R, u32, u32) -> i64,
) -> Vec<Pair> {
    let valid = |a: u32, b: u32| !(distinct && a == b);
    let mut chosen: Vec<(u32, u32)> = if count.saturating_mul(2) > max_pairs(from, to, distinct) {
        let mut all: Vec<(u32, u32)> = (0..from as u32)
            .flat_map(|a| (0..to as u32).map(move |b| (a, b)))
            .filter(|&(a, b)| valid(a, b))
            .collect();
        let (picked, _) = all.partial_shuffle(rng, count);
        picked.to_vec()
    } else {
        let mut taken: HashSet<(u32, u32)> = HashSet::with_capacity(count);
        let mut chosen = Vec::with_capacity(count);
        while chosen.len() < count {
            let mut pair = draw(rng);
            let mut tries = 0;
            while !valid(pair.0, pair.1) || taken.contains(&pair) {
                tries += 1;
                pair = if tries < 32 {
                    draw(rng)
                } else {
                    (
                        rng.random_range(0..from as u32),
                        rng.random_range(0..to as u32),
                    )
                };
            }
            taken.insert(pair);
            chosen.push(pair);
        }
        chosen
    };
    chosen.sort_unstable();
    chosen
        .into_iter()
        .map(|(a, b)| Pair {
            from: a,
            to: b,
            created: moment(rng, a, b),
        })
        .collect()
}

/// How many distinct pairs `from` × `to` has.
pub(super) fn max_pairs(from: usize, to: usize, distinct: bool) -> usize {
    if distinct {
        from.saturating_mul(to.saturating_sub(1))
    } else {
        from.saturating_mul(to)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn sizes(users: usize, articles: usize, follows: usize, favorites: usize) -> Sizes {
        Sizes {
            users,
            articles,
            comments: 50,
            favorites,
            follows,
            tags: 3,
        }
    }

    #[test]
    fn even_every_possible_pair_can_be_asked_for() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let plan = plan(&mut rng, &sizes(4, 3, 12, 12));
        assert_eq!(plan.follows.len(), 12);
        assert!(plan.follows.iter().all(|f| f.from != f.to));
        assert_eq!(plan.favorites.len(), 12);
        assert!(
            plan.articles
                .iter()
                .all(|a| (1..=3).contains(&a.tags.len()))
        );
    }

    #[test]
    fn related_events_come_after_what_they_relate_to() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let plan = plan(&mut rng, &sizes(40, 100, 300, 500));
        for c in &plan.comments {
            assert!(c.created > plan.articles[c.article as usize].created);
            assert!(c.created > plan.users[c.author as usize].created);
            assert!(c.updated >= c.created);
        }
        for a in &plan.articles {
            assert!(a.created > plan.users[a.author as usize].created);
            assert!(a.updated >= a.created);
        }
        for f in &plan.favorites {
            assert!(f.created > plan.articles[f.to as usize].created);
        }
        assert!(
            plan.articles
                .windows(2)
                .all(|w| w[0].created <= w[1].created)
        );
    }

    #[test]
    fn popularity_is_skewed() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let plan = plan(&mut rng, &Sizes::DEMO);
        let mut followers: Vec<i64> = plan.users.iter().map(|u| u.followers).collect();
        followers.sort_unstable();
        let median = followers[followers.len() / 2];
        assert!(followers[followers.len() - 1] > 3 * median.max(1));
    }
}
