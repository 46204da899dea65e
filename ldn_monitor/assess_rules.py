"""Cue phrases and vocabularies for the assessor, compiled once at import.

Everything here is general language of clinical abstracts (section labels, design words, masking
words, negations, participant nouns, dose grammar, condition names). Nothing names a study.
"""
from __future__ import annotations

import re

from .assess_gate import gate_patterns, gated
from .assess_numbers import NUMBER_PATTERN

I = re.IGNORECASE

# ---------------------------------------------------------------- sections
SECTION_KINDS = ("title", "background", "objective", "methods", "results", "conclusion", "other")

_LABEL_WORDS = (
    r"background(?:s)?|introduction|context|importance|rationale|objectives?|aims?|purpose(?: of (?:the )?review)?|"
    r"goals?|methods?|methodology|design|setting|settings|participants?|partcipants|patients|subjects|"
    r"interventions?|(?:main )?outcome measures?|main outcomes?|measurements?|evidence review|data sources?|"
    r"study selection|selection criteria|data (?:collection|extraction|synthesis)|search (?:methods|strategy)|"
    r"eligibility criteria|materials?|procedures?|analysis|(?:main |key )?results?|(?:main |key |recent )?findings|"
    r"conclusions?|interpretation|discussion|summary|limitations?|relevance|implications|perspective|"
    r"significance|(?:trial |clinical trial )?registration|ethics|dissemination|funding|case (?:report|presentation|description)|"
    r"observations?|exposures?|sample|population"
)
# "LABEL:" anywhere a sentence could start; the label is 1-7 words made of label words and joiners.
SECTION_COLON_RE = re.compile(
    rf"(?:(?<=^)|(?<=\n)|(?<=[.!?]\s)|(?<=[.!?]\s\s))"
    rf"((?:(?:{_LABEL_WORDS})(?:\s*(?:,|and|&|/|of|the|for|practical|scientific|clinical)\s*)*){{1,7}})\s*:\s*",
    I,
)
# A label alone on its own line ("Results\n").
SECTION_LINE_RE = re.compile(
    rf"(?:(?<=^)|(?<=\n))((?:(?:{_LABEL_WORDS})(?:\s*(?:,|and|&|/|of|the|for|practical|scientific|clinical)\s*)*){{1,7}})[ \t]*(?=\n)",
    I,
)
# "Background Fibromyalgia is ..." (label then capitalised sentence, no colon) at line start.
SECTION_BARE_RE = re.compile(
    r"(?:(?<=^)|(?<=\n))(Background|Objectives?|Methods?|Results|Conclusions?|Introduction|Purpose|Aims?|Findings)[ \t]+(?=[A-Z])"
)


def section_kind(label: str) -> str:
    lab = label.lower()
    if re.search(r"result|finding|observation", lab):
        return "results"
    if re.search(r"conclu|interpret|relevance|implication|summary|discussion|perspective|significance", lab):
        return "conclusion"
    if re.search(r"background|introduction|context|importance|rationale", lab) and "objective" not in lab:
        return "background"
    if re.search(r"purpose of (the )?review", lab):
        return "objective"
    if re.search(r"objective|aim|purpose|goal", lab):
        return "objective"
    if re.search(r"limitation", lab):
        return "other"
    if re.search(r"registration|ethic|dissemination|funding", lab):
        return "other"
    return "methods"


# A sentence ends at . ! ? followed by space and a capital, digit or opening bracket, except after
# an abbreviation ("e.g.", "et al.", "vs.", "Fig."): the guards end in the stop itself, since they test
# the characters just before the split. The cheap "(?<=[.!?])" comes first so most positions fail at once.
SENT_SPLIT_RE = re.compile(
    r"(?<=[.!?])(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bvs\.)(?<!\bal\.)(?<!\bDr\.)(?<!\bFig\.)(?<!\bNo\.)(?<!\bapprox\.)(?<!\bca\.)(?<!\bSt\.)"
    r"[\"'”’)]?\s+(?=[A-Z0-9(\[“\"'])"
)

# ---------------------------------------------------------------- context of a sentence
# Sentences about other work, or about what should happen next, do not describe this study's design.
OTHER_WORK_RE = re.compile(
    r"\b(?:previous(?:ly)?|prior (?:studies|trials|work|research)|earlier (?:studies|trials|work|reports?)|"
    r"(?:have|has) (?:been )?(?:shown|suggested|demonstrated|reported|found|tested|evaluated|studied|used)|"
    r"(?:studies|trials|reports|data|research|evidence) (?:have |has )?(?:suggest\w*|show\w*|found|reported|indicated?|demonstrated)|literature|"
    r"\b(?:a|one|another|an earlier|a previous|a recent|a small|a single)\s+(?:[\w-]+\s+){0,3}?(?:trial|study) (?:found|showed|reported|suggested|demonstrated)|"
    r"(?:is|are) (?:urgently )?(?:needed|required|warranted)|(?:need|needs) (?:for|to)|"
    r"should be|future|further (?:studies|trials|research|investigation)|larger|well-powered|"
    r"we recommend|remains? (?:unclear|unknown))\b",
    I,
)
STRONG_OTHER_RE = re.compile(
    r"\b(?:earlier|previous|prior|published) (?:data|studies|study|trials?|reports?|work)\b|\brun(?:s)? counter to\b|"
    r"\bin contrast (?:to|with) (?:earlier|previous|prior)|\b(?:consistent|in line) with (?:earlier|previous|prior)",
    I,
)
FUTURE_NEED_RE = re.compile(
    r"\b(?:(?:is|are) (?:urgently )?(?:needed|required|warranted)|future|further (?:studies|trials|research)|"
    r"should be|larger|well-powered|warrant(?:s|ed)?|need for|are necessary|remain to be|(?:is|are|seems?|appears?|would be) (?:now )?(?:justified|indicated|merited))\b",
    I,
)

# ---------------------------------------------------------------- design cues
RANDOM_POS_RE = re.compile(
    r"\b(?:randomi[sz]ed|randomi[sz]ation|randomly|random (?:assignment|allocation|order|sequence)|"
    r"at random|allocated at random|block[- ]randomi[sz]ation)\b",
    I,
)
RANDOM_NEG_RE = re.compile(
    r"\b(?:non-?randomi[sz]ed|not randomi[sz]ed|without randomi[sz]ation|no randomi[sz]ation|"
    r"unrandomi[sz]ed|non-?random)\b",
    I,
)
# "randomized controlled trials" (plural) or "no randomised trials" speak about other studies.
RANDOM_OTHERS_RE = re.compile(
    r"\b(?:randomi[sz]ed(?:[\s,-]+(?:controlled|clinical|placebo-controlled|double-blind|control))*\s+"
    r"(?:trials|studies|RCTs)|RCTs|no randomi[sz]ed|randomi[sz]ed evidence)\b",
    I,
)
CROSSOVER_RE = re.compile(r"\b(?:cross-?over|crossed over|cross over|crossing over|counterbalanced)\b|"
    r"\b(?:received|given|took|taking) (?:the )?(?:\w+ ){0,2}(?:before|after|followed by|then) (?:the )?(?:placebo|PLC|active (?:drug|treatment))\b|"
    r"\b(?:placebo|PLC) (?:before|after|followed by|then) (?:the )?(?:active|drug|naltrexone|LDN|NTX)\b|"
    r"\b(?:each|every) (?:participant|patient|subject|child|veteran|woman|man) (?:\w+ ){0,3}(?:received|took|will (?:receive|take|spend))\b[^.]{0,60}\b(?:and|then)\b[^.]{0,40}\bplacebo\b", I)
PARALLEL_RE = re.compile(r"\bparallel(?:-| )(?:group|arm)", I)
PLACEBO_RE = re.compile(r"\bplacebo(?!-naive)\b|\bPLC\b|\bsham\b|\bdummy (?:pill|capsule|tablet)s?\b|\b(?:given|received|treated with) (?:the )?vehicle\b|\bvehicle[- ]treated\b|"
    r"\b(?:or|versus|vs\.?|compared with|compared to|than with) (?:an? )?(?:equal volume of |matching |identical )?(?:normal )?(?:saline|vehicle)\b|"
    r"\b(?:saline|vehicle)[- ](?:control|placebo|infusion|injection)s?\b|\bsaline vehicle\b|"
    r"\bwith (?:an? )?(?:equal|identical|matching) volume of (?:normal )?saline\b", I)
_ACTIVE_DRUGS = (
    r"(?:amitriptyline|gabapentin|pregabalin|duloxetine|morphine|oxycodone|methadone|buprenorphine|tramadol|"
    r"acamprosate|disulfiram|nortriptyline|milnacipran|celecoxib|ibuprofen|prednisone|mesalamine|"
    r"interferon|glatiramer|topiramate|varenicline|bupropion|fluoxetine|sertraline|dextromethorphan)"
)
ACTIVE_CONTROL_RE = re.compile(
    r"\b(?:active[- ](?:control(?:led)?|comparator|treatment control)|against (?:\w+ ){0,3}an? active (?:drug|treatment|comparator)|"
    r"head-to-head|comparator drug|(?:versus|vs\.?|compared (?:with|to)|randomi[sz]ed to (?:receive |take )?(?:either )?)\s*(?:\d+(?:\.\d+)?\s*mg\s+)?"
    r"(?:amitriptyline|gabapentin|pregabalin|duloxetine|morphine|oxycodone|methadone|buprenorphine|tramadol|"
    r"acamprosate|disulfiram|nortriptyline|milnacipran|celecoxib|ibuprofen|prednisone|mesalamine|"
    r"interferon|glatiramer|standard[- ]dose naltrexone))\b(?![^.;,]{0,40}\b(?:containing|plus|with added|combined with|added to)\b)|"
    rf"\b{_ACTIVE_DRUGS}[\w-]*(?:\s*\([\w-]+\))?\s+or\s+(?:\d+(?:\.\d+)?\s*mg\s+)?(?:(?:low|standard|extended)[- ](?:dose|release)\s+)?(?:naltrexone|LDN|NTX|XR-NTX)\b|"
    rf"\b(?:naltrexone|LDN|NTX)(?:\s*\([\w-]+\))?\s+or\s+(?:\d+(?:\.\d+)?\s*mg\s+)?{_ACTIVE_DRUGS}\b",
    I,
)
USUAL_CARE_RE = re.compile(
    r"\b(?:usual care|standard (?:of )?care|treatment as usual|TAU|standard treatment alone|"
    r"(?:standard|conventional|usual|routine) (?:therapy|treatment|care|medications?) alone|"
    r"no[- ]treatment control|routine care)\b",
    I,
)
WAITLIST_RE = re.compile(r"\b(?:wait(?:ing)?[- ]?list(?:ed)?|delayed[- ]treatment|delayed[- ]start)\b", I)
NO_CONTROL_RE = re.compile(
    r"\b(?:uncontrolled|no control group|without (?:a )?control(?: group)?|single[- ]arm|single[- ]group|"
    r"one[- ]arm|open[- ]label,? (?:single|pilot|prospective|uncontrolled)|pre-? ?post|before[- ]and[- ]after|"
    r"pre-?test/post-?test)\b",
    I,
)
CONTROLLED_RE = re.compile(r"\b(?:placebo|sham|active|usual care|wait-?list)[- ]controlled\b|\bcontrol (?:group|arm)\b", I)

DOUBLE_BLIND_RE = re.compile(r"\bdoubl(?:e|y)[- ]?(?:blind(?:ed)?|mask(?:ed)?|dummy)\b|\bneither (?:the )?(?:providers?|investigators?|clinicians?|physicians?|patients?|participants?) nor (?:the )?(?:providers?|investigators?|clinicians?|physicians?|patients?|participants?) (?:knew|were aware)", I)
TRIPLE_BLIND_RE = re.compile(r"\b(?:triple|quadruple)[- ]?(?:blind(?:ed)?|mask(?:ed|ing)?)\b", I)
SINGLE_BLIND_RE = re.compile(
    r"\b(?:single|patient|participant|investigator|assessor|rater|evaluator)[- ]?(?:blind(?:ed)?|mask(?:ed)?)\b", I
)
BLINDED_GENERIC_RE = re.compile(r"\b(?:blinded|masked)\b", I)
OPEN_LABEL_RE = re.compile(
    r"\b(?:open[- ]?label(?:l?ed)?|unblinded|non-?blinded|not blinded|without blinding|no blinding|unmasked|open study|open trial|open-label)\b",
    I,
)
# Open-label phase after a blinded/randomized phase does not make the trial open-label.
OPEN_EXTENSION_RE = re.compile(
    r"\b(?:extension|further|additional|after which|followed by|thereafter|subsequent(?:ly)?|then|continuation)\b[^.;]{0,80}"
    r"\bopen[- ]?label|\bopen[- ]?label(?:l?ed)?\s+(?:extension|phase|continuation|follow-up)",
    I,
)
# Parties from whom allocation was concealed; three or more parties means triple (or quadruple) masking.
MASKED_PARTY_RE = re.compile(
    r"\b(?:participants?|patients?|subjects?|investigators? (?:assessing|who assessed|evaluating|rating|measuring) (?:the )?outcomes?|investigators?|clinicians?|care providers?|physicians?|"
    r"nurses?|surgeons?|doctors?|treating (?:\w+ )?(?:\w+ologists?|teams?)|\w+ologists?|parents|caregivers|"
    r"outcome assessors?|assessors?|raters?|evaluators?|statistic(?:ians|al analysts)|analysts?|"
    r"data analysts?|study (?:staff|personnel|team))\b",
    I,
)
# A masking statement: "<parties> were blinded / masked / blind to / unaware", "an investigator unaware of".
MASKING_VERB_RE = re.compile(
    r"\b(?:(?:were|was|are|is|remained|will be|being|kept)\s+(?:\w+\s+)?(?:blind(?:ed)?|mask(?:ed)?|unaware)|"
    r"(?:blinded|masked|unaware) (?:to|of|as to) (?:the )?(?:group|treatment|allocation|assignment|randomi[sz]ation|arm|sequence|order|study)|"
    r"(?:blinded|masked) (?:participants?|patients?|investigators?|assessors?|raters?|evaluators?))\b",
    I,
)
MASKED_NEGATION_RE = re.compile(r"\b(?:not|nor|un-?blinded|unmasked|neither|open[- ]label)\b", I)
MASKING_CONTEXT_RE = re.compile(
    r"\b(?:blind(?:ed)?|mask(?:ed|ing)?|concealed|unaware)\b", I
)

PROTOCOL_STRONG_RE = re.compile(
    r"\b(?:study|trial) protocol\b|\bprotocol (?:for|of) (?:a|an|the)\b|\bthis protocol\b|"
    r"\bprotocol paper\b|\bdesign and rationale\b|\brationale and design\b",
    I,
)
FUTURE_DESIGN_RE = re.compile(
    r"\b(?:will|shall) be (?:randomi[sz]ed|enrolled|recruited|assigned|allocated|conducted|included|"
    r"screened|treated|followed|invited|given|prescribed|stratified|performed|carried out|accepted)\b|"
    r"\bwe will (?:recruit|enrol|enroll|randomi[sz]e|conduct|compare|assess|evaluate|test)\b|"
    r"\bwill (?:recruit|enrol|enroll|randomi[sz]e)\b|\bis (?:being|currently being) (?:conducted|recruited)\b|"
    r"\bwill (?:accept|follow|assign|compare|receive|take|spend)\b|\bare being recruited\b|"
    r"\b(?:the|this) (?:study|trial) will\b|\bwill be (?:double|single|triple)[- ]?(?:blind|mask)\w*|\bwill be (?:established|determined|assessed|evaluated|tested|measured|compared)\b|"
    r"\b(?:results|findings) will be (?:disseminated|published|submitted)\b",
    I,
)
AIM_PRESENT_RE = re.compile(
    r"\b(?:main|primary|principal)? ?(?:objective|aim|purpose|goal) (?:of (?:this|the) (?:study|trial) )?is to\b|"
    r"\bstudy's (?:main |primary )?(?:objective|aim|purpose|goal) is to\b|\bthis (?:study|trial) (?:aims|seeks) to\b",
    I,
)

META_RE = re.compile(r"\bmeta-?analys[ie]s\b|\bmeta-?analytic\b|\bpooled (?:analys[ie]s|effects?|estimates?) (?:showed|revealed|indicated|of)", I)
POOLED_RE = re.compile(r"\bpooled (?:analys[ie]s|effect|estimate|mean difference|standardi[sz]ed|risk ratio|odds ratio)", I)
SYSTEMATIC_RE = re.compile(
    r"\bsystematic(?:ally)? (?:literature )?(?:review|search(?:es)?|assess|searched|reviewed|literature)|\bscoping review\b|"
    r"\bumbrella review\b|\brapid review\b|\bPRISMA\b|\bliterature review\b",
    I,
)
SEARCH_RE = re.compile(
    r"\b(?:searched|search(?:es)? (?:of|was|were|in|on|combined)|literature search|bibliographic search|electronic search)\b"
    r"[^.]{0,200}?\b(?:PubMed|MEDLINE|Embase|EMBASE|Cochrane|Scopus|Web of Science|CINAHL|PsycINFO|PsychInfo|Google Scholar|databases?|CENTRAL)\b|"
    r"\b(?:PubMed|MEDLINE|Embase|Cochrane Library|Scopus|Web of Science|CINAHL)\b[^.]{0,80}\bsearched\b",
    I,
)
INCLUSION_RE = re.compile(
    r"\b(?:met|fulfil(?:l)?ed|satisfied) (?:the |our )?(?:inclusion|eligibility) criteria\b|\bwere included\b|"
    r"\bincluded in (?:the|this|our) (?:review|analysis|synthesis|meta-analysis|qualitative synthesis)\b|"
    r"\bqualitative synthesis\b|\bstudies were (?:eligible|included|identified|selected)\b",
    I,
)
NARRATIVE_RE = re.compile(
    r"\bnarrative review\b|\bthis review\b|\bwe review\b|\bin this review\b|\breview (?:sets out|aims|summari[sz]es|discusses|describes|explores|focuses)|"
    r"\boverview\b|\bwe (?:summari[sz]e|discuss|describe the current|provide an? (?:overview|update|summary))\b|"
    r"\bpurpose of (?:this |the )?review\b|\bcurrent (?:knowledge|understanding|evidence)\b|\bupdate on\b|\bmini-?review\b",
    I,
)
REVIEW_TITLE_RE = re.compile(r"\breview\b|\boverview\b|\bupdate\b|\bwhat is the evidence\b|\bperspective\b", I)

SECONDARY_RE = re.compile(
    r"\b(?:(?:secondary|post[- ]hoc|exploratory|ancillary|follow-up|subgroup)\s+|re-?)analys[ie]s (?:of|from|using)\b|"
    r"\bpooled (?:individual[- ](?:participant|patient)[- ]level )?(?:analys[ie]s|data) (?:of|from) (?:our |the |two |three |four )+(?:\w+ ){0,3}?(?:previously |earlier )?(?:published |completed )?(?:randomi[sz]ed|double-blind|placebo|crossover|clinical|controlled)|"
    r"\bpooled individual[- ](?:participant|patient) data from (?:our|two|three|the)\b|"
    r"\bpooled (?:results|data) (?:for|from|of) [^.]{0,60}\b(?:our|previous|two|three|earlier|completed)\b|"
    r"\bdata from (?:a|the|two|three|our) (?:previously )?(?:completed |published )?(?:randomi[sz]ed|clinical|double-blind|placebo)|"
    r"\bre-?analy[sz]ed\b|\banalysis of (?:data from )?(?:a|the|two|our) (?:completed |previous )?(?:randomi[sz]ed|clinical) trials?\b",
    I,
)
ANIMAL_RE = re.compile(
    r"\b(?:mice|mouse|murine|rats?|rodents?|rabbits?|dogs|canine|pigs|porcine|zebrafish|primates|"
    r"in vitro|cell lines?|cultured cells|xenografts?|knockout|animal models?|ex vivo)\b",
    I,
)
IN_VITRO_STRONG_RE = re.compile(
    r"\bin vitro (?:treatment|exposure|incubation|application|administration)\b|\b(?:cancer |tumou?r |human |cultured )?cell lines?\b|\b(?:treated|incubated|exposed) (?:\w+ ){0,3}in vitro\b|"
    r"\b(?:cells|keratinocytes|macrophages|monocytes|microglia|fibroblasts|lymphocytes|neurons|astrocytes|splenocytes|PBMCs?) were (?:\w+ ){0,2}?(?:treated|incubated|exposed|cultured|stimulated|pre-?treated)\b|"
    r"\bconcentrations? (?:of|from|ranging from) [^.]{0,40}?\d\s*(?:nM|µM|μM|uM|mM|pM)\b|\bcell cultures? (?:were|was) (?:treated|exposed)\b|"
    r"\b(?:in|was induced in|were induced in) (?:\w+ ){0,2}(?:rats|mice)\b|\b(?:rats|mice) (?:were|received|given)\b",
    I,
)
HUMAN_SUBJECT_RE = re.compile(r"\b(?:patients?|participants?|subjects|volunteers|women|men|children|adults|people|individuals|veterans)\b", I)

CASE_REPORT_RE = re.compile(
    r"\bcase report\b|\b(?:we|here we|this report) (?:describe|report|present)s? (?:here )?(?:a|an|the case of|one)\b|"
    r"\ba case (?:of|in which|where)\b|\b(?:a|an) \d{1,3}-year-old\b|\bthe patient, (?:a|an)\b|"
    r"\bpresents? (?:the|a) case\b|\bcase presentation\b|\bcase description\b",
    I,
)
CASE_SERIES_RE = re.compile(
    r"\bcase series\b|\bseries of (?:\w+ ){0,2}(?:cases|patients|case reports)\b|\b(?:present|report|describe)s? (?:\w+ ){0,3}cases\b|"
    r"\bcases from (?:our|the) (?:practice|clinic|center|centre)\b|\bcase reports? and series\b|"
    r"\b(?:present|report|describe)s? (?:the (?:cases|courses?) of )?(?:two|three|four|five|six|seven|eight|nine|ten|[2-9]|[1-4]\d) "
    r"(?:[\w-]+ ){0,2}?(?:patients|women|men|children|adults|individuals|people|sisters|brothers|siblings|twins)\b",
    I,
)
CHART_REVIEW_RE = re.compile(
    r"\b(?:chart|record|medical records?|charts) (?:review|reviewed)\b|\breviewed (?:the )?(?:medical )?(?:charts|records)\b|"
    r"\bretrospective(?:ly)?\b|\bwe looked back\b",
    I,
)
OBSERVATIONAL_RE = re.compile(
    r"\b(?:cohort (?:study|design|analysis)|(?:retrospective|prospective|population-based|historical|observational) cohort|"
    r"cross-sectional|case-control|observational|registry|register-based|registries|healthy controls|matched (?:healthy )?controls|"
    r"prescription database|claims (?:data|database)|(?:national|administrative|health|registry|insurance|pharmacy|medical records?) database|"
    r"population-based|nation-?wide|(?:mailed|postal|online|web-based|cross-sectional|retrospective|patient) survey|questionnaire study|drug utili[sz]ation|"
    r"(?:mailed|posted|sent|emailed|distributed) (?:an? )?(?:\w+ )?questionnaires?|"
    r"before-and-after|before-after|quasi-experimental|real-world|pharmacovigilance|retrospective|"
    r"chart review|records? review|electronic health records?|we reviewed the (?:medical )?(?:charts|records))\b",
    I,
)
SINGLE_ARM_RE = re.compile(
    r"\b(?:open[- ]?label(?:l?ed)?|single[- ]arm|single[- ]group|uncontrolled|pilot (?:study|trial)|prospective|"
    r"phase (?:1|2|I|II)|feasibility (?:study|trial)|pre-? ?post|treated with|received)\b",
    I,
)
TRIAL_WORD_RE = re.compile(r"\b(?:trial|study)\b", I)

# ---------------------------------------------------------------- drug and dose
NALTREXONE_RE = re.compile(r"\b(?:naltrexone|LDN|VLDN|NTX|naltrexone hydrochloride|Oxytrex|ULDN)\b", I)
LDN_PHRASE_RE = re.compile(
    r"\b(?:(?:very[- ])?low[- ]dos(?:e|ed|age)[- ](?:of )?(?:oral )?naltrexone|LDN|VLDN|"
    r"naltrexone(?: \(\w+\))?,? (?:given |used |administered |taken )?(?:at|in) (?:a |very )?low[- ]?(?:doses?|dosages?)|"
    r"low doses? of naltrexone|naltrexone at low doses?|low[- ]dose NTX)\b",
    I,
)
ULTRA_LOW_RE = re.compile(r"\bultra[- ]?low[- ]?dos(?:e|ed|age)\b|\bULDN\b|\bultralow\b", I)
STANDARD_DRUG_RE = re.compile(
    r"\bnaltrexone[-/ ](?:and[- ])?bupropion\b|\bbupropion[-/ ](?:and[- ])?naltrexone\b|\bContrave\b|\bMysimba\b|"
    r"\b(?:extended[- ]release|XR|depot|injectable|long-acting injectable) naltrexone\b|\bXR-NTX\b|\bVivitrol\b|"
    r"\bnaltrexone implants?\b",
    I,
)
ADDICTION_RE = re.compile(
    r"\b(?:alcohol(?:ism| dependence| use disorder|-dependent)|opioid (?:use disorder|dependence|addiction)|"
    r"heroin|smoking cessation|smokers|gambling|kleptomania|binge|craving|relapse|detoxification|abstinence)\b",
    I,
)
# A dose: number + unit, optional per-kg and per-day qualifiers.
DOSE_RE = re.compile(
    r"(?P<num>\d+(?:[.·]\d+|,\d{1,2}(?!\d))?)(?:\s*(?:-|–|to|or|and)\s*(?P<num2>\d+(?:[.·]\d+|,\d{1,2}(?!\d))?))?\s*-?\s*"
    r"(?P<unit>mg|milligrams?|µg|μg|mcg|micrograms?|ug|g)\b(?P<perkg>\s*/\s*kg|\s+per\s+kg(?:ram)?|\s+per\s+kilogram)?"
    r"(?P<freq>\s*(?:/\s*(?:day|d)\b|per day|a day|daily|each day|every day|nightly|at night|at bedtime|once daily|"
    r"(?:twice|two times) (?:a |per )?day|b\.?i\.?d\.?|bid|q\.?d\.?|qhs))?",
    I,
)

# ---------------------------------------------------------------- participants
PARTICIPANT_NOUN = (
    r"(?:patients?|participants?|subjects?|persons?|people|individuals?|adults?|children|adolescents?|"
    r"women|men|males?|females?|girls|boys|volunteers?|smokers|drinkers|veterans|users|outpatients|inpatients|"
    r"cases|controls|respondents|infants|youths?|teenagers|residents|employees|students|athletes|"
    r"survivors|caregivers|mothers|pregnant women|case reports|eyes|dogs|mice|rats)"
)
_FUNCTION_WORDS = (
    r"(?i:and|or|of|with|who|to|in|at|were|was|for|on|by|from|than|that|which|per|as|the|a|an|is|are|had|have|"
    r"into|after|before|during|between|among|within|without|each|every|all|these|those|their|our|its)"
)
_NUMWORD = r"(?i:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand)"
# Up to 4 modifier words between the number and the noun ("Seventy alcohol-dependent men").
COUNT_NOUN_RE = re.compile(
    rf"(?P<num>{NUMBER_PATTERN})(?P<mods>(?:\s+(?!{_FUNCTION_WORDS}\b|\d|{_NUMWORD}\b|\w+ly\b)[\w/'’\-]+){{0,4}}?)\s+(?P<noun>{PARTICIPANT_NOUN})\b",
    I,
)
N_EQUALS_RE = re.compile(r"(?:\b[Nn]|\((?=\s*=))\s*=\s*(?P<num>\d{1,3}(?:[,\u2009\u202f ]\d{3})+|\d+)\b")
ENROLL_CUE_RE = re.compile(
    r"\b(?:enroll?ed|enrolment|enrollment|recruited|randomi[sz]ed|randomly (?:assigned|allocated)|"
    r"random (?:assignment|allocation)|underwent random\w*|were (?:assigned|allocated)|allocated|assigned|"
    r"included|took part|participated|entered|were studied|were treated|received|were given|started|"
    r"prescribed|consented|comprised|sample (?:of|size)|cohort of|total of|in all|identified|eligible)\b",
    I,
)
ENROLL_STRONG_RE = re.compile(
    r"\b(?:enroll?ed|recruited|randomi[sz]ed|randomly (?:assigned|allocated)|random (?:assignment|allocation)|"
    r"underwent random\w*|were (?:assigned|allocated)|took part|participated|in all|total of|series of)\b",
    I,
)
SCREEN_CUE_RE = re.compile(
    r"\b(?:screened|assessed for eligibility|approached|contacted|invited|responded to|were excluded|excluded|"
    r"searched|identified through|records|titles|articles)\b",
    I,
)
ANALYZED_CUE_RE = re.compile(
    r"\b(?:completed|finished|analy[sz]ed|analy[sz]able|evaluable|per[- ]protocol|included in the (?:final )?analysis|"
    r"lost to follow-?up|dropped out|withdrew|discontinued|remained)\b",
    I,
)
ALL_COMPLETED_RE = re.compile(
    r"\b(?:all|every|each)(?: of the)?(?: \w+)? (?:subjects?|participants?|patients?|children|women|men)? ?"
    r"(?:completed|finished)\b|\bnone (?:of the \w+ )?(?:withdrew|dropped out|discontinued)\b",
    I,
)
STUDY_NOUN = r"(?:studies|trials|articles|papers|publications|reports|RCTs|randomi[sz]ed (?:controlled )?trials)"
N_STUDIES_RE = re.compile(
    rf"(?P<num>{NUMBER_PATTERN})(?P<mods>(?:\s+(?![Oo]f\b|[Ww]ere\b)[\w/'’\-]+){{0,3}}?)\s+(?P<noun>{STUDY_NOUN})\b",
    I,
)
N_STUDIES_OF_RE = re.compile(
    rf"\b[Oo]f (?:the |these )?(?P<total>{NUMBER_PATTERN}) (?:articles|records|studies|citations|references|titles|publications)\b(?: (?:identified|retrieved|screened|found))?,?\s+"
    rf"(?P<num>{NUMBER_PATTERN}) (?:(?:studies|articles|trials|reports|publications|papers) )?(?:were|met|fulfilled|satisfied|qualified)",
    I,
)
STUDY_INCLUDED_CUE_RE = re.compile(
    r"\b(?:included|inclusion criteria|eligibility criteria|met|fulfil(?:l)?ed|chosen|selected|retained|"
    r"reviewed|identified|found|analy[sz]ed|qualified|suitable|pooled|comprised|eligible|across|took in|in total)\b",
    I,
)
STUDY_SCREEN_CUE_RE = re.compile(r"\b(?:yielded|retrieved|screened|screening|records|titles and abstracts|hits|search returned)\b", I)

# ---------------------------------------------------------------- duration
DUR_UNIT = r"(?:weeks?|wks?|wk|months?|mos?|days?|years?|yrs?|hours?)"
DURATION_RE = re.compile(
    rf"(?P<num>{NUMBER_PATTERN})(?:\s*(?:-|–|to)\s*(?P<num2>\d+))?[\s-]*(?P<unit>{DUR_UNIT})\b",
    I,
)
DURATION_MONTH_N_RE = re.compile(r"\b(?P<unit>week|month|day)[- ](?P<num>\d{1,3})\b", I)
DUR_GOOD_BEFORE_RE = re.compile(
    r"(?:\bfor(?: a(?: period| total| duration)? of)?|\bover(?: a(?: period of)?)?|\blasting|\bduration of|\bperiod of|"
    r"\btreated for|\b(?:LDN|naltrexone|NTX|drug|treatment|therapy)(?: \(\w+\))?(?: by mouth| orally| daily| nightly)? for|\bduring|\bthroughout|\btwo|\bthree|\beach|\bconsisting of|\bcourse of|\bwithin a|\bspanning|"
    r"\bfor up to|\bfor at least|\b(?:a|an)|\bto|\bafter)\s*$",
    I,
)
DUR_GOOD_AFTER_RE = re.compile(
    r"^,\s+(?:[\w-]+,\s+){0,4}(?:[\w-]+\s+){0,2}(?:trial|study)\b|"
    r"^[\s,)]*(?:-|,)?\s*(?:\w+[- ]){0,4}?(?:trial|study|treatment|therapy|period|course|intervention|phase|"
    r"program|regimen|augmentation|administration|on the drug|of (?:treatment|therapy|LDN|naltrexone|low-dose|daily|oral|augmentation|open|active|the drug)|"
    r"in total|with (?:LDN|naltrexone|low-dose)|on (?:LDN|naltrexone|\d))",
    I,
)
DUR_BAD_AFTER_RE = re.compile(
    r"^[\s,)\-]*(?:\w+[- ]){0,1}?(?:baseline|washout|wash-out|run-?in|lead-?in|follow-?up|post-?treatment|"
    r"before|prior|earlier|after (?:the|treatment|therapy|stopping|discontinu|the end|study)|later|ago|old|of age|"
    r"history|duration of (?:illness|disease)|since|apart|interval|intervals|thereafter|previously)\b",
    I,
)
DUR_BAD_BEFORE_RE = re.compile(
    r"(?:\bevery|\beach|\bwithin|\bfor at least|\bat least|\bexceeding|\bmore than|\bover the past|\bin the past|"
    r"\bpast|\blast|\bbefore|\bafter(?: only| just)?|\baged?|\bfor about|\bfor the|\bfor the first|\bup to|\bper|\bfirst|\bof the|"
    r"\bfollow-?up of|\bfollowed (?:up )?for|\blasted|\bhad had|\bmean|\bmedian|\bwashout of|\brun-in of|\bbaseline of|"
    r"\bwash-?out|\bdisease|\bduration|\bsymptoms for|\bfor over|\bfor nearly|\bpersisting|"
    r"\bremission for|\b(?:pain|symptom|itch|relapse|seizure|disease|drug)[- ]free for|\bremained (?:\w+ ){0,3}for|\bsustained for|\bmaintained for|"
    r"\b(?:has|have|had) (?:remained|been) (?:\w+ ){0,3}for)\s*(?:\(\w+\)\s*)?$",
    I,
)

# ---------------------------------------------------------------- results
P_VALUE_RE = re.compile(r"\b[Pp]\s*(?:value)?\s*(?P<op>[<>=≤≥]|&lt;|&gt;)\s*(?P<val>0?[.·]\d+|1(?:\.0+)?)")
SIG_FAV_RE = re.compile(
    r"\b(?:significant(?:ly)?|marked(?:ly)?|substantial(?:ly)?|dramatic(?:ally)?|remarkabl[ey]|"
    r"clinically meaningful|statistically significant)\b[^.;]{0,80}"
    r"\b(?:improv\w*|reduc\w*|decreas\w*|lower\w*|fewer|better|greater|higher|less|lessen\w*|relie\w*|"
    r"benefit\w*|heal\w*|increas\w*|restor\w*|resolv\w*|fell|declin\w*)",
    I,
)
FAV_RE = re.compile(
    r"\b(?:improv(?:ed|ement|ements|es|ing)|reduc(?:ed|tion|tions|es)|decreas(?:ed|e)|lessen(?:ed|s)|relie(?:f|ved|ves?)|"
    r"effective(?:ly)?|efficacious|benefit(?:s|ed|ted|ial)?|superior|promising|resol(?:ved|ution)|remission|"
    r"responders?|responded|favou?r(?:ing|able|s|ed)?|outperform\w*|restored|regrew|regrowth|healing|healed|"
    r"successful(?:ly)?|alleviat\w*|ameliorat\w*|attenuat\w*|showed promise|shows promise|"
    r"fell|cut|lowers|lowered|lessening|life[- ]changing|helps?|helped|may work|works? for|significant (?:effects?|benefits?)|dramatic (?:results?|improvements?|responses?)|lower (?:consumption|rates?|pain|scores?)|fewer|associated with (?:lower|less|fewer|reduced|improved|better)|"
    r"offers? (?:an? )?(?:alternative|option|new therapy)|provides? (?:further |additional |new )?(?:\w+ )?options|new therapy|"
    r"backs? (?:the )?(?:continued )?use|supports? (?:the )?(?:continued )?use|non-?inferior(?:ity)?|"
    r"induced (?:\w+ ){0,4}?(?:responses?|remissions?)|perceived? (?:it |LDN |the drug )?as (?:beneficial|helpful|effective))\b",
    I,
)
NULL_RE = re.compile(
    r"\b(?:no (?:statistically )?(?:significant|meaningful|significan\w*|appreciable|clinically (?:meaningful|relevant|important))\s+(?:\w+\s+){0,3}?(?:differences?|effects?|changes?|improvements?|benefits?|reductions?|associations?)|"
    r"(?:did|does|do) not (?:significantly )?(?:differ|improve|reduce|change|show|reach|outperform|lead|result|decrease|affect|alter|demonstrate)|"
    r"(?:was|were|is|are) not (?:significantly |statistically )?(?:different|superior|better|associated|followed|effective|significant|improved|reduced|changed)|"
    r"not (?:statistically )?significant(?:ly)?|non-?significant|no (?:evidence|benefit|effect|reduction|improvement|difference)|"
    r"neither\b[^.;]{0,120}\bnor\b|failed to|comparable (?:efficacy|effects?|to|with)|similar (?:efficacy|effects?|to|across|between|in both)|"
    r"did not differ|no between-group|not superior|no better than|efficacy remains? (?:in question|uncertain|unclear)|"
    r"was not followed by|marginal(?:ly)?|numerically|trend(?:ed)? toward|fell short of|lack of (?:effect|efficacy|benefit)|"
    r"did not reach (?:statistical )?significance|(?:remains?|remained|is|was|are|were) (?:still )?(?:unproven|unclear|uncertain|inconclusive)|"
    r"(?:were|was|remained) (?:largely |essentially |mostly )?unchanged|(?:fewer|less) than half|a minority of|"
    r"(?:fail|fails) to (?:help|improve|work)|(?:efficacy|effects?|benefits?) (?:fell|declined|decreased|waned|diminished|wore off)|lower likelihood of respond\w*|less likely to respond|did not respond|non-?responders?)\b",
    I,
)
UNFAV_RE = re.compile(
    r"\b(?:worsen(?:ed|ing)|worse|(?<!non-)(?<!non)inferior(?!ity)|deteriorat\w*|exacerbat\w*|increased (?:pain|symptoms|disease activity|relapse|mortality)|"
    r"more (?:pain|relapses|adverse)|harmful|less effective than placebo|"
    r"improved less\b[^.;]{0,60}\bthan\b[^.;]{0,40}\bplacebo|"
    r"(?:placebo|control) (?:group|arm|participants|patients) (?:had|showed|reported|achieved) (?:significantly )?(?:fewer|more|better|lower|greater|less|higher)|"
    r"outweighed by)\b",
    I,
)
HEDGE_MIXED_RE = re.compile(
    r"\b(?:but not|however|although|whereas|while|only (?:in|for|the)|mixed|inconsistent|conflicting|"
    r"waned|diminished|wore off|some benefit|partial|lower likelihood|less likely|yet|for some|in some|some (?:people|patients|individuals)|"
    r"a subgroup|a subset|fewer than half|less than half|a minority)\b",
    I,
)
PRIMARY_RE = re.compile(r"\bprimary (?:outcome|end ?point|efficacy|measure|aim|objective|analysis)\b", I)
SAFETY_RE = re.compile(r"\b(?:safe(?:ty)?|tolera(?:ted|bility|ble)|adverse|side effects?)\b", I)

SERIOUS_HARM_RE = re.compile(
    r"\b(?:serious adverse (?:events?|effects?|reactions?)|SAEs?|severe adverse (?:events?|effects?|reactions?)|"
    r"died|deaths?|fatal|hospitali[sz](?:ed|ation)|life-threatening)\b",
    I,
)
HARM_NEGATION_RE = re.compile(
    r"\b(?:no|none|not|without|never|neither|nor|free of|absence of|zero|nil|did not|were not|was not)\b[^.;]{0,60}$",
    I,
)

# ---------------------------------------------------------------- conditions (specific before general)
CONDITIONS: tuple[tuple[str, str], ...] = (
    ("long_covid", r"long[- ]covid|post[- ]covid|post-acute sequelae of (?:sars-cov-2|covid)|PASC\b|post covid-19 condition"),
    ("me_cfs", r"myalgic encephalomyelitis|chronic fatigue syndrome|ME/CFS|\bCFS\b"),
    ("gulf_war_illness", r"gulf war illness|gulf war"),
    ("hailey_hailey_disease", r"hailey[- ]hailey"),
    ("lichen_planopilaris", r"lichen planopilaris"),
    ("crohns_disease", r"crohn'?s|crohn’s"),
    ("ulcerative_colitis", r"ulcerative colitis"),
    ("multiple_sclerosis", r"multiple sclerosis|\bMS\b"),
    ("fibromyalgia", r"fibromyalgia"),
    ("centralized_chronic_pain", r"centrali[sz]ed (?:chronic )?pain|central sensiti[sz]ation"),
    ("complex_regional_pain_syndrome", r"complex regional pain syndrome|\bCRPS\b"),
    ("diabetic_neuropathy", r"diabetic (?:peripheral )?neuropath"),
    ("cancer_pain", r"cancer[- ](?:related )?pain|pain (?:due to|from|in) cancer"),
    ("cancer_related_fatigue", r"cancer[- ]related fatigue"),
    ("postoperative_pain", r"post-?operative (?:pain|analgesia)|after (?:\w+ ){0,3}surgery"),
    ("opioid_induced_constipation", r"opioid[- ]induced constipation"),
    ("parkinsons_disease", r"parkinson"),
    ("rheumatoid_arthritis", r"rheumatoid arthritis"),
    ("migraine", r"migraine"),
    ("endometriosis", r"endometriosis"),
    ("oral_lichen_planus", r"oral lichen planus"),
    ("methamphetamine_use_disorder", r"methamphetamine"),
    ("neuropathic_pain", r"neuropathic pain"),
    ("chronic_low_back_pain", r"low back pain|lower back pain|back pain"),
    ("osteoarthritis", r"osteoarthritis"),
    ("psoriasis", r"psoria"),
    ("autism", r"autis"),
    ("alcohol_use_disorder", r"alcohol(?:ism| dependence| use disorder|-dependent|ic)"),
    ("hazardous_drinking", r"hazardous drinking|heavy drinking|binge drinking"),
    ("tobacco_use_disorder", r"smok(?:ing|ers)|nicotine|tobacco"),
    ("opioid_withdrawal", r"opioid (?:withdrawal|detoxification)|detoxification"),
    ("opioid_use_disorder", r"opioid (?:use disorder|dependence|addiction)|heroin"),
    ("major_depressive_disorder", r"major depressive|depression|depressive disorder"),
    ("hiv", r"\bHIV\b|human immunodeficiency"),
    ("interstitial_cystitis", r"interstitial cystitis|bladder pain"),
    ("vulvodynia", r"vulvodynia|vestibulodynia"),
    ("irritable_bowel_syndrome", r"irritable bowel"),
    ("inflammatory_bowel_disease", r"inflammatory bowel"),
    ("cancer", r"cancer|tumou?r|carcinoma|glioma|melanoma|neoplas|oncolog"),
    ("obesity", r"obesity|weight loss|overweight"),
    ("pruritus", r"prurit|itch"),
    ("dermatologic_conditions", r"dermatolog|skin (?:conditions|diseases)"),
    ("restless_legs_syndrome", r"restless legs"),
    ("chronic_pain", r"chronic pain|pain conditions|painful conditions|neuropathic pain"),
)
CONDITION_RES = tuple((name, gated(re.compile(rf"(?<!non-)(?<!non )(?:{pat})", I))) for name, pat in CONDITIONS)

# every pattern above skips texts that lack its required literals (see assess_gate)
gate_patterns(globals())
