//! Each function's configured `MemorySize`, read from `template.yaml`: the function's own
//! (`Properties.MemorySize`) or the `Globals.Function.MemorySize` it inherits. Functions are
//! named by their binary (`Metadata.BuildProperties.Binary`). A line reader, enough for this
//! template's layout (two-space indents, one resource per top-level key under `Resources`).

use std::collections::BTreeMap;

pub fn memory_sizes(template: &str) -> BTreeMap<String, u32> {
    let mut global = None;
    let mut section = "";
    let mut in_globals_function = false;
    let mut resources: Vec<(Option<String>, Option<u32>)> = Vec::new();
    for line in template.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let value = |key: &str| trimmed.strip_prefix(key).map(|v| v.trim().to_owned());
        if indent == 0 {
            section = if trimmed.starts_with("Globals:") {
                "globals"
            } else if trimmed.starts_with("Resources:") {
                "resources"
            } else {
                ""
            };
            continue;
        }
        match section {
            "globals" => {
                if indent == 2 {
                    in_globals_function = trimmed.starts_with("Function:");
                } else if indent == 4 && in_globals_function {
                    if let Some(v) = value("MemorySize:") {
                        global = v.parse().ok();
                    }
                }
            }
            "resources" => {
                if indent == 2 {
                    resources.push((None, None));
                } else if let Some(resource) = resources.last_mut() {
                    if let Some(v) = value("Binary:") {
                        resource.0 = Some(v);
                    } else if indent == 4 || indent == 6 {
                        if let Some(v) = value("MemorySize:") {
                            resource.1 = v.parse().ok();
                        }
                    }
                }
            }
            _ => {}
        }
    }
    resources.into_iter().filter_map(|(binary, memory)| Some((binary?, memory.or(global)?))).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_memory_size_or_the_global_one() {
        let template = "Globals:\n  Function:\n    MemorySize: 256\n    Timeout: 10\nResources:\n  A:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildProperties:\n        Binary: a\n    Properties:\n      # comment\n      MemorySize: 512\n  B:\n    Metadata:\n      BuildProperties:\n        Binary: b\n    Properties:\n      Timeout: 3\n  Table:\n    Type: AWS::DynamoDB::Table\n";
        let sizes = super::memory_sizes(template);
        assert_eq!(sizes.get("a"), Some(&512));
        assert_eq!(sizes.get("b"), Some(&256));
        assert_eq!(sizes.len(), 2);
    }

    #[test]
    fn the_project_template_names_every_function() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
        let sizes = super::memory_sizes(&text);
        for function in ["upload-url", "confirm", "quota", "delete", "documents", "classify", "cleanup", "reclassify"] {
            assert!(sizes.contains_key(function), "{function}: {sizes:?}");
        }
    }
}
