// Entry of the shared bundle loaded by every page's layout.
import "@picocss/pico/css/pico.min.css";
import "./styles.css";
import { markCurrentNavLink } from "./nav";
import { initUpload } from "./upload";
import { initJobs } from "./jobs";

document.documentElement.dataset.bundle = "loaded";
markCurrentNavLink(document);
initJobs(document);
initUpload(document);
