//! CART classification trees (Gini), deterministic.
//!
//! Takes a row-major `f64` matrix, class ids and the rows to learn from
//! (repeated rows = bootstrap weights); gives a [`Tree`] whose leaves hold
//! class probabilities. Why not linfa-trees: its impurity sums and
//! majority votes iterate a randomly seeded `HashMap` (so two runs on the
//! same data can give different trees), it scans every training row at
//! every node, it merges values closer than an absolute 1e-5 (rates and
//! ratios in flow features are often smaller), and it cannot draw a random
//! feature subset per split, which a random forest needs. This learner
//! sorts each candidate feature once per node, splits at midpoints between
//! distinct values, breaks ties by the lowest feature index, and draws its
//! feature subsets from a seeded stream: same data and seed, same tree.

use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// Tree hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TreeParams {
    /// Maximum depth (root = 0); `None` grows until leaves are pure.
    pub max_depth: Option<u32>,
    /// A node with fewer (weighted) rows is a leaf.
    pub min_samples_split: u32,
    /// Each child keeps at least this many rows.
    pub min_samples_leaf: u32,
    /// Features tried per split (`None`: all).
    pub max_features: Option<u32>,
}

impl Default for TreeParams {
    fn default() -> TreeParams {
        TreeParams {
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            max_features: None,
        }
    }
}

/// One node: a split (`feature`, `threshold`: rows with `x <= threshold`
/// go left) or a leaf (`feature == u32::MAX`, `left` = offset of its class
/// probabilities).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub feature: u32,
    pub threshold: f64,
    pub left: u32,
    pub right: u32,
}

const LEAF: u32 = u32::MAX;

/// A fitted tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub classes: u32,
    pub nodes: Vec<Node>,
    /// Class probabilities of the leaves, `classes` per leaf.
    pub leaf_proba: Vec<f32>,
}

impl Tree {
    /// Class probabilities of `row`, added (times `w`) to `out`.
    pub fn add_proba(&self, row: &[f64], w: f64, out: &mut [f64]) {
        let mut i = 0usize;
        loop {
            let n = &self.nodes[i];
            if n.feature == LEAF {
                let k = self.classes as usize;
                let p = &self.leaf_proba[n.left as usize..n.left as usize + k];
                for (o, v) in out.iter_mut().zip(p) {
                    *o += w * f64::from(*v);
                }
                return;
            }
            i = if row[n.feature as usize] <= n.threshold {
                n.left as usize
            } else {
                n.right as usize
            };
        }
    }

    pub fn depth(&self) -> u32 {
        fn d(t: &Tree, i: usize) -> u32 {
            let n = &t.nodes[i];
            if n.feature == LEAF {
                0
            } else {
                1 + d(t, n.left as usize).max(d(t, n.right as usize))
            }
        }
        d(self, 0)
    }

    pub fn leaves(&self) -> usize {
        self.nodes.iter().filter(|n| n.feature == LEAF).count()
    }
}

impl Tree {
    /// Why this tree cannot be walked on rows `d` wide, if it cannot: a
    /// child or leaf offset out of range, a feature past `d`, or a cycle.
    pub fn check(&self, d: usize) -> Result<(), String> {
        let k = self.classes as usize;
        if self.nodes.is_empty() || k == 0 {
            return Err("a tree has no nodes or no classes".into());
        }
        // Every node reached once from the root: no cycle, no sharing.
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            let n = self
                .nodes
                .get(i)
                .ok_or(format!("node {i} does not exist"))?;
            if std::mem::replace(&mut seen[i], true) {
                return Err(format!("node {i} is reached twice"));
            }
            if n.feature == LEAF {
                let at = n.left as usize;
                if at + k > self.leaf_proba.len() {
                    return Err(format!("leaf {i} points past its probabilities"));
                }
            } else {
                if n.feature as usize >= d {
                    return Err(format!("node {i} splits on feature {} of {d}", n.feature));
                }
                stack.extend([n.right as usize, n.left as usize]);
            }
        }
        Ok(())
    }
}

/// Trees laid out for scoring many rows: every tree's nodes in depth-first
/// order in one array (a split's left child is the next node, a leaf's
/// `right` is itself), and each leaf's non-zero probabilities, already
/// multiplied by the tree's weight, as (class, value) pairs: grown-out
/// trees have mostly pure leaves, so a row adds one value per tree instead
/// of one per class. Scores are bit-identical to summing
/// [`Tree::add_proba`] in tree order (adding the zeros left out changes
/// nothing).
#[derive(Debug, Clone)]
pub struct Flat {
    nodes: Vec<FlatNode>,
    roots: Vec<u32>,
    /// Per node: its first (class, value) pair; a leaf's pairs run to the
    /// next node's first.
    leaf_at: Vec<u32>,
    leaf_value: Vec<(u32, f64)>,
    classes: usize,
}

#[derive(Debug, Clone, Copy)]
struct FlatNode {
    threshold: f64,
    feature: u32,
    right: u32,
}

impl Flat {
    /// `trees` (each [`Tree::check`]ed) weighted by `w`.
    pub fn new(trees: &[Tree], w: f64) -> Flat {
        let classes = trees.first().map_or(0, |t| t.classes as usize);
        let mut f = Flat {
            nodes: Vec::new(),
            roots: Vec::with_capacity(trees.len()),
            leaf_at: Vec::new(),
            leaf_value: Vec::new(),
            classes,
        };
        for t in trees {
            f.roots.push(f.nodes.len() as u32);
            let mut stack = vec![(0usize, None::<usize>)];
            while let Some((i, parent)) = stack.pop() {
                let me = f.nodes.len();
                if let Some(p) = parent {
                    f.nodes[p].right = me as u32;
                }
                let n = &t.nodes[i];
                f.leaf_at.push(f.leaf_value.len() as u32);
                if n.feature == LEAF {
                    f.nodes.push(FlatNode {
                        threshold: f64::NAN,
                        feature: 0,
                        right: me as u32,
                    });
                    let at = n.left as usize;
                    f.leaf_value.extend(
                        t.leaf_proba[at..at + classes]
                            .iter()
                            .enumerate()
                            .filter(|(_, p)| **p != 0.0)
                            .map(|(c, p)| (c as u32, w * f64::from(*p))),
                    );
                } else {
                    f.nodes.push(FlatNode {
                        threshold: n.threshold,
                        feature: n.feature,
                        right: 0,
                    });
                    // Left is walked next (so it is node me + 1); right
                    // patches our `right` when it is reached.
                    stack.push((n.right as usize, Some(me)));
                    stack.push((n.left as usize, None));
                }
            }
        }
        f.leaf_at.push(f.leaf_value.len() as u32);
        f
    }

    /// Weighted class probabilities of every row of a row-major block
    /// (`d` wide, every feature index of the trees below `d`), added to
    /// `out` (`classes` per row).
    ///
    /// Tree by tree, eight rows walk in step so that their independent
    /// chains of loads overlap. Every lane steps every time (a lane at its
    /// leaf steps onto the leaf again), so no branch depends on the data;
    /// the walk ends when no lane moved.
    pub fn add_proba_block(&self, block: &[f64], d: usize, out: &mut [f64]) {
        const LANES: usize = 8;
        let k = self.classes;
        let rows = block.len() / d.max(1);
        let nodes = &self.nodes[..];
        for &root in &self.roots {
            let mut r0 = 0;
            while r0 < rows {
                let lanes = LANES.min(rows - r0);
                // A ragged tail repeats its last row in the spare lanes.
                let base: [usize; LANES] = std::array::from_fn(|j| (r0 + j.min(lanes - 1)) * d);
                let mut at = [root as usize; LANES];
                loop {
                    let mut moved = 0usize;
                    for j in 0..LANES {
                        let i = at[j];
                        let n = nodes[i];
                        let v = block[base[j] + n.feature as usize];
                        // A select, not a branch: which way a row goes is
                        // unpredictable, and a mispredicted jump costs more
                        // than the whole step.
                        let next = std::hint::select_unpredictable(
                            v <= n.threshold,
                            i + 1,
                            n.right as usize,
                        );
                        moved |= next ^ i;
                        at[j] = next;
                    }
                    if moved == 0 {
                        break;
                    }
                }
                for (j, i) in at.iter().enumerate().take(lanes) {
                    let o = &mut out[(r0 + j) * k..(r0 + j + 1) * k];
                    let pairs = self.leaf_at[*i] as usize..self.leaf_at[*i + 1] as usize;
                    for &(c, v) in &self.leaf_value[pairs] {
                        o[c as usize] += v;
                    }
                }
                r0 += lanes;
            }
        }
    }
}

/// Training data as the learner sees it.
#[derive(Debug, Clone, Copy)]
pub struct Data<'a> {
    pub x: &'a [f64],
    pub d: usize,
    pub y: &'a [u32],
    pub classes: u32,
    /// Weight of each class (1.0 unless the classes are balanced).
    pub class_weight: &'a [f64],
}

struct Builder<'a> {
    data: Data<'a>,
    params: TreeParams,
    rng: Rng,
    tree: Tree,
    sorted: Vec<(f64, u32)>,
    features: Vec<u32>,
}

/// Fit a tree on rows `rows` (indices into the data; repeats allowed).
pub fn fit(data: Data<'_>, mut rows: Vec<u32>, params: TreeParams, rng: Rng) -> Tree {
    let mut b = Builder {
        data,
        params,
        rng,
        tree: Tree {
            classes: data.classes,
            nodes: Vec::new(),
            leaf_proba: Vec::new(),
        },
        sorted: Vec::with_capacity(rows.len()),
        features: (0..data.d as u32).collect(),
    };
    let n = rows.len();
    b.grow(&mut rows, 0, n, 0);
    b.tree
}

impl Builder<'_> {
    fn counts(&self, rows: &[u32]) -> Vec<f64> {
        let mut c = vec![0.0; self.data.classes as usize];
        for &r in rows {
            let y = self.data.y[r as usize] as usize;
            c[y] += 1.0;
        }
        for (v, w) in c.iter_mut().zip(self.data.class_weight) {
            *v *= w;
        }
        c
    }

    fn leaf(&mut self, counts: &[f64]) -> u32 {
        let total: f64 = counts.iter().sum();
        let off = self.tree.leaf_proba.len() as u32;
        for &c in counts {
            self.tree
                .leaf_proba
                .push(if total > 0.0 { (c / total) as f32 } else { 0.0 });
        }
        self.tree.nodes.push(Node {
            feature: LEAF,
            threshold: 0.0,
            left: off,
            right: 0,
        });
        (self.tree.nodes.len() - 1) as u32
    }

    /// Grow the subtree of `rows[lo..hi]`; gives its node index.
    fn grow(&mut self, rows: &mut [u32], lo: usize, hi: usize, depth: u32) -> u32 {
        let counts = self.counts(&rows[lo..hi]);
        let n = hi - lo;
        let pure = counts.iter().filter(|&&c| c > 0.0).count() <= 1;
        let p = self.params;
        if pure
            || n < p.min_samples_split.max(2) as usize
            || p.max_depth.is_some_and(|m| depth >= m)
        {
            return self.leaf(&counts);
        }
        let Some((feature, threshold)) = self.best_split(&rows[lo..hi], &counts) else {
            return self.leaf(&counts);
        };
        // Partition: x <= threshold first.
        let mut mid = lo;
        for i in lo..hi {
            let r = rows[i] as usize;
            if self.data.x[r * self.data.d + feature as usize] <= threshold {
                rows.swap(i, mid);
                mid += 1;
            }
        }
        if mid == lo || mid == hi {
            return self.leaf(&counts);
        }
        let me = self.tree.nodes.len();
        self.tree.nodes.push(Node {
            feature,
            threshold,
            left: 0,
            right: 0,
        });
        let left = self.grow(rows, lo, mid, depth + 1);
        let right = self.grow(rows, mid, hi, depth + 1);
        self.tree.nodes[me].left = left;
        self.tree.nodes[me].right = right;
        me as u32
    }

    /// The split with the lowest weighted Gini impurity, if any improves.
    fn best_split(&mut self, rows: &[u32], parent: &[f64]) -> Option<(u32, f64)> {
        let d = self.data.d;
        let k = self.data.classes as usize;
        // Features to try: all, or a seeded partial shuffle.
        let m = self
            .params
            .max_features
            .map_or(d, |m| (m as usize).clamp(1, d));
        if m < d {
            for i in 0..m {
                let j = i + self.rng.below((d - i) as u64) as usize;
                self.features.swap(i, j);
            }
        }
        let mut chosen: Vec<u32> = self.features[..m].to_vec();
        chosen.sort_unstable();
        let total: f64 = parent.iter().sum();
        let gini = |c: &[f64], n: f64| -> f64 {
            if n <= 0.0 {
                return 0.0;
            }
            1.0 - c.iter().map(|v| (v / n) * (v / n)).sum::<f64>()
        };
        let parent_impurity = gini(parent, total);
        let min_leaf = self.params.min_samples_leaf.max(1) as usize;
        let mut best: Option<(f64, u32, f64)> = None;
        let mut left = vec![0.0; k];
        for &f in &chosen {
            self.sorted.clear();
            self.sorted.extend(rows.iter().map(|&r| {
                (
                    self.data.x[r as usize * d + f as usize],
                    self.data.y[r as usize],
                )
            }));
            self.sorted
                .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            if self.sorted.first().map(|v| v.0) == self.sorted.last().map(|v| v.0) {
                continue;
            }
            left.iter_mut().for_each(|v| *v = 0.0);
            let mut wl = 0.0;
            let n = self.sorted.len();
            for i in 0..n - 1 {
                let (v, y) = self.sorted[i];
                let w = self.data.class_weight[y as usize];
                left[y as usize] += w;
                wl += w;
                let next = self.sorted[i + 1].0;
                if next == v || i + 1 < min_leaf || n - i - 1 < min_leaf {
                    continue;
                }
                let wr = total - wl;
                let mut gl = 1.0;
                let mut gr = 1.0;
                for c in 0..k {
                    let l = left[c];
                    let r = parent[c] - l;
                    gl -= (l / wl) * (l / wl);
                    if wr > 0.0 {
                        gr -= (r / wr) * (r / wr);
                    }
                }
                let score = (wl * gl + wr * gr) / total;
                if best.is_none_or(|(b, _, _)| score < b) {
                    best = Some((score, f, v + (next - v) / 2.0));
                }
            }
        }
        let (score, f, t) = best?;
        (score < parent_impurity - 1e-12).then_some((f, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_walk_gives_the_per_row_probabilities() {
        let mut r = Rng::stream(9, "blk");
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..500 {
            let (a, b) = (r.unit(), r.unit());
            x.extend([a, b]);
            y.push(u32::from(a + b > 1.0) + u32::from(a > 0.8));
        }
        let w = [1.0; 3];
        let data = Data {
            x: &x,
            d: 2,
            y: &y,
            classes: 3,
            class_weight: &w,
        };
        // Three trees on bootstrap-like row sets, one of them the same tree
        // again, so that a forest's sum is checked, not only one tree.
        let trees: Vec<Tree> = [1u64, 2, 1]
            .iter()
            .map(|&seed| {
                let mut r = Rng::stream(seed, "rows");
                let rows = (0..500).map(|_| r.below(500) as u32).collect();
                fit(data, rows, TreeParams::default(), Rng::stream(seed, "t"))
            })
            .collect();
        for t in &trees {
            t.check(2).unwrap();
        }
        let w = 1.0 / 3.0;
        let flat = Flat::new(&trees, w);
        // 37 rows: four full blocks of eight and a ragged tail.
        let rows = &x[..37 * 2];
        let mut block = vec![0.0; 37 * 3];
        flat.add_proba_block(rows, 2, &mut block);
        for (i, row) in rows.chunks(2).enumerate() {
            let mut one = [0.0; 3];
            for t in &trees {
                t.add_proba(row, w, &mut one);
            }
            assert_eq!(&block[i * 3..i * 3 + 3], &one, "row {i}");
        }
    }

    #[test]
    fn a_broken_tree_is_refused_not_walked() {
        let leaf = Node {
            feature: LEAF,
            threshold: 0.0,
            left: 0,
            right: 0,
        };
        let split = |left, right, feature| Node {
            feature,
            threshold: 0.5,
            left,
            right,
        };
        let tree = |nodes: Vec<Node>, leaf_proba: Vec<f32>| Tree {
            classes: 2,
            nodes,
            leaf_proba,
        };
        let good = tree(vec![split(1, 2, 1), leaf, leaf], vec![1.0, 0.0]);
        good.check(2).unwrap();
        let cases = [
            (
                tree(vec![split(1, 2, 2), leaf, leaf], vec![1.0, 0.0]),
                "feature 2 of 2",
            ),
            (
                tree(vec![split(1, 3, 0), leaf, leaf], vec![1.0, 0.0]),
                "node 3 does not exist",
            ),
            (
                tree(vec![split(1, 0, 0), leaf], vec![1.0, 0.0]),
                "reached twice",
            ),
            (
                tree(vec![split(1, 2, 0), leaf, leaf], vec![1.0]),
                "past its probabilities",
            ),
            (tree(vec![], vec![]), "no nodes"),
        ];
        for (t, want) in cases {
            let e = t.check(2).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }
    fn data(x: &[f64], d: usize, y: &[u32], classes: u32) -> Data<'static> {
        let x: &'static [f64] = Box::leak(x.to_vec().into_boxed_slice());
        let y: &'static [u32] = Box::leak(y.to_vec().into_boxed_slice());
        let w: &'static [f64] = Box::leak(vec![1.0; classes as usize].into_boxed_slice());
        Data {
            x,
            d,
            y,
            classes,
            class_weight: w,
        }
    }

    fn predict(t: &Tree, row: &[f64]) -> usize {
        let mut p = vec![0.0; t.classes as usize];
        t.add_proba(row, 1.0, &mut p);
        (0..p.len())
            .max_by(|&a, &b| p[a].total_cmp(&p[b]).then(b.cmp(&a)))
            .unwrap()
    }

    #[test]
    fn learns_an_axis_aligned_rule_and_tiny_differences() {
        // Class = x0 > 0.5e-6 (values far below linfa-trees' 1e-5 tie merge),
        // x1 is noise.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..200 {
            let v = i as f64 * 1e-8;
            x.extend([v, ((i * 37) % 11) as f64]);
            y.push(u32::from(v > 0.5e-6));
        }
        let d = data(&x, 2, &y, 2);
        let t = fit(
            d,
            (0..200).collect(),
            TreeParams::default(),
            Rng::stream(1, "t"),
        );
        assert_eq!(t.depth(), 1, "{t:?}");
        assert_eq!(t.nodes[0].feature, 0);
        for i in 0..200 {
            assert_eq!(predict(&t, &x[i * 2..i * 2 + 2]) as u32, y[i]);
        }
    }

    #[test]
    fn same_data_and_seed_same_tree_and_limits_hold() {
        let mut x = Vec::new();
        let mut y = Vec::new();
        let mut r = Rng::stream(3, "data");
        for _ in 0..500 {
            let a = r.unit();
            let b = r.unit();
            let c = r.unit();
            x.extend([a, b, c]);
            y.push(if a + b > 1.0 {
                0
            } else if c > 0.5 {
                1
            } else {
                2
            });
        }
        let d = data(&x, 3, &y, 3);
        let p = TreeParams {
            max_features: Some(2),
            ..TreeParams::default()
        };
        let a = fit(d, (0..500).collect(), p, Rng::stream(9, "t"));
        let b = fit(d, (0..500).collect(), p, Rng::stream(9, "t"));
        assert_eq!(a, b);
        let shallow = fit(
            d,
            (0..500).collect(),
            TreeParams {
                max_depth: Some(2),
                min_samples_leaf: 20,
                ..TreeParams::default()
            },
            Rng::stream(9, "t"),
        );
        assert!(shallow.depth() <= 2);
        assert!(shallow.leaves() <= 4);
        // Leaf probabilities sum to one.
        for leaf in shallow.leaf_proba.chunks(3) {
            assert!((leaf.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }
}
