import { bodyKindCases } from "./body-kinds.cases.js";

bodyKindCases("sendfile");
