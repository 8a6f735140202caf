//! Cycles through `needs`: every strongly connected group of steps, named as a path
//! (`a -> c -> b -> a`) so the user sees which `needs` to cut.

use super::model::StepDef;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Every cycle through `needs`, one per strongly connected group of steps, each as
/// step ids starting at the group's first step in file order and ending with it again.
pub(super) fn find_cycles(steps: &[StepDef]) -> Vec<Vec<String>> {
    let index: BTreeMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let edges: Vec<Vec<usize>> = steps
        .iter()
        .map(|s| {
            s.needs
                .iter()
                .filter_map(|n| index.get(n.as_str()).copied())
                .collect()
        })
        .collect();
    let mut cycles: Vec<Vec<String>> = Vec::new();
    for component in strongly_connected(&edges) {
        let start = component.iter().copied().min().unwrap_or(0);
        let self_loop = edges[start].contains(&start);
        if component.len() < 2 && !self_loop {
            continue;
        }
        let members: BTreeSet<usize> = component.into_iter().collect();
        if let Some(path) = path_back(start, &edges, &members) {
            cycles.push(path.into_iter().map(|i| steps[i].id.clone()).collect());
        }
    }
    cycles.sort_by_key(|c| index.get(c[0].as_str()).copied());
    cycles
}

/// Shortest path `start -> … -> start` within `members` (breadth-first).
fn path_back(start: usize, edges: &[Vec<usize>], members: &BTreeSet<usize>) -> Option<Vec<usize>> {
    let mut parent: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &next in &edges[node] {
            if !members.contains(&next) {
                continue;
            }
            if next == start {
                // Walk back from `node` to the first hop, then put the path in order.
                let mut hops = Vec::new();
                let mut at = node;
                while at != start {
                    hops.push(at);
                    match parent.get(&at) {
                        Some(&p) => at = p,
                        None => break,
                    }
                }
                hops.reverse();
                let mut path = vec![start];
                path.extend(hops);
                path.push(start);
                return Some(path);
            }
            if let std::collections::btree_map::Entry::Vacant(e) = parent.entry(next) {
                e.insert(node);
                queue.push_back(next);
            }
        }
    }
    None
}

/// Tarjan's strongly connected components (iterative, so deep plans cannot overflow
/// the stack).
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut counter = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, index of the next edge to follow)
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(&(node, next_edge)) = work.last() {
            if next_edge == 0 && index[node] == usize::MAX {
                index[node] = counter;
                low[node] = counter;
                counter += 1;
                stack.push(node);
                on_stack[node] = true;
            }
            if let Some(&next) = edges[node].get(next_edge) {
                if let Some(top) = work.last_mut() {
                    top.1 += 1;
                }
                if index[next] == usize::MAX {
                    work.push((next, 0));
                } else if on_stack[next] {
                    low[node] = low[node].min(index[next]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_cycles_handles_acyclic_and_long_chains() {
        let mk = |id: &str, needs: &[&str]| StepDef {
            id: id.into(),
            uses: "fake.remove".into(),
            with: serde_json::json!({}),
            needs: needs.iter().map(|n| n.to_string()).collect(),
            when: Default::default(),
            retry: None,
            timeout: None,
            line: 1,
        };
        let diamond = vec![
            mk("a", &[]),
            mk("b", &["a"]),
            mk("c", &["a"]),
            mk("d", &["b", "c"]),
        ];
        assert!(find_cycles(&diamond).is_empty());
        // A long chain closing on itself: no stack overflow, the whole loop is named.
        let n = 5_000;
        let chain: Vec<StepDef> = (0..n)
            .map(|i| {
                let need = format!("s{}", (i + 1) % n);
                mk(&format!("s{i}"), &[need.as_str()])
            })
            .collect();
        let cycles = find_cycles(&chain);
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].len(), n + 1);
        assert_eq!(cycles[0][0], "s0");
        assert_eq!(cycles[0][1], "s1");
    }

    #[test]
    fn one_cycle_per_group_starting_in_file_order() {
        let mk = |id: &str, needs: &[&str]| StepDef {
            id: id.into(),
            uses: "fake.remove".into(),
            with: serde_json::json!({}),
            needs: needs.iter().map(|n| n.to_string()).collect(),
            when: Default::default(),
            retry: None,
            timeout: None,
            line: 1,
        };
        // A figure eight through `b` is one group, reported once; `x` needs itself.
        let steps = vec![
            mk("x", &["x"]),
            mk("a", &["b"]),
            mk("b", &["a", "c"]),
            mk("c", &["b", "ghost"]),
            mk("d", &["a"]),
        ];
        assert_eq!(
            find_cycles(&steps),
            vec![vec!["x", "x"], vec!["a", "b", "a"]]
        );
    }
}
