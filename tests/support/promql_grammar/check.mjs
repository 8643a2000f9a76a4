// Reads a JSON list of PromQL strings on stdin; prints, per string, the offsets where Prometheus 3's
// grammar found an error (an empty list: it parses).
import { parser } from "@prometheus-io/lezer-promql";

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const errors = JSON.parse(input).map((query) => {
    const found = [];
    parser.parse(query).iterate({
      enter: (node) => {
        if (node.type.isError) found.push(node.from);
      },
    });
    return found;
  });
  process.stdout.write(JSON.stringify(errors));
});
