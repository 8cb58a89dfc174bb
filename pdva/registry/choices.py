"""Value sets for the clinical enums (data dictionary v2026.1).

Every clinical enum includes NOT_KNOWN so that missing data is never confused with "no".
Codes are stable identifiers stored in the database and exports; labels are for display only.
"""

from __future__ import annotations

from django.db import models

VALUE_SET_VERSION = "2026.1"
NOT_KNOWN = "not_known"


class YesNo(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Limb(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"


class Sex(models.TextChoices):
    MALE = "male", "Male"
    FEMALE = "female", "Female"
    OTHER = "other", "Other"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Ethnicity(models.TextChoices):
    """NHS ethnic category (data dictionary code letters)."""

    A = "A", "White - British"
    B = "B", "White - Irish"
    C = "C", "White - any other White background"
    D = "D", "Mixed - White and Black Caribbean"
    E = "E", "Mixed - White and Black African"
    F = "F", "Mixed - White and Asian"
    G = "G", "Mixed - any other mixed background"
    H = "H", "Asian or Asian British - Indian"
    J = "J", "Asian or Asian British - Pakistani"
    K = "K", "Asian or Asian British - Bangladeshi"
    L = "L", "Asian or Asian British - any other Asian background"
    M = "M", "Black or Black British - Caribbean"
    N = "N", "Black or Black British - African"
    P = "P", "Black or Black British - any other Black background"
    R = "R", "Other ethnic groups - Chinese"
    S = "S", "Other ethnic groups - any other ethnic group"
    Z = "Z", "Not stated"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Region(models.TextChoices):
    LONDON = "london", "London"
    SOUTH_EAST = "south_east", "South East"
    SOUTH_WEST = "south_west", "South West"
    EAST = "east_of_england", "East of England"
    MIDLANDS = "midlands", "Midlands"
    NORTH_EAST_YORKS = "north_east_yorkshire", "North East and Yorkshire"
    NORTH_WEST = "north_west", "North West"
    SCOTLAND = "scotland", "Scotland"
    WALES = "wales", "Wales"
    NORTHERN_IRELAND = "northern_ireland", "Northern Ireland"


class OperatorRole(models.TextChoices):
    INTERVENTIONAL_RADIOLOGIST = "interventional_radiologist", "Interventional radiologist"
    VASCULAR_SURGEON = "vascular_surgeon", "Vascular surgeon"
    CARDIOLOGIST = "cardiologist", "Cardiologist"
    OTHER = "other", "Other"


class Rutherford(models.IntegerChoices):
    R0 = 0, "0 - asymptomatic"
    R1 = 1, "1 - mild claudication"
    R2 = 2, "2 - moderate claudication"
    R3 = 3, "3 - severe claudication"
    R4 = 4, "4 - ischaemic rest pain"
    R5 = 5, "5 - minor tissue loss"
    R6 = 6, "6 - major tissue loss"


class WifiIBasis(models.TextChoices):
    TOE_PRESSURE = "toe_pressure", "Toe pressure"
    TCPO2 = "tcpo2", "TcPO2"
    ABI = "abi", "Ankle-brachial index"
    ANKLE_PRESSURE = "ankle_pressure", "Ankle systolic pressure"
    SPP = "spp", "Skin perfusion pressure"
    PVR = "pvr", "Pulse volume recording"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class GlassIM(models.TextChoices):
    P0 = "P0", "P0 - target artery crosses ankle, intact pedal arch"
    P1 = "P1", "P1 - target artery crosses ankle, absent/diseased pedal arch"
    P2 = "P2", "P2 - no target artery crosses the ankle (desert foot)"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class NoOptionReason(models.TextChoices):
    NO_DISTAL_TARGET = "no_distal_target", "No distal target"
    NO_CONDUIT = "no_conduit", "No autologous conduit"
    FAILED_PRIOR_REVASC = "failed_prior_revasc", "Failed prior revascularisation"
    PROHIBITIVE_SURGICAL_RISK = "prohibitive_surgical_risk", "Prohibitive surgical risk"
    OTHER = "other", "Other"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Adjudication(models.TextChoices):
    MDT = "mdt", "Multidisciplinary team"
    TWO_SPECIALISTS = "two_specialists", "Two independent specialists"
    CORE_LAB = "independent_core_lab", "Independent core lab / committee"
    SINGLE_CLINICIAN = "single_clinician", "Single clinician"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Gangrene(models.TextChoices):
    NONE = "none", "None"
    DRY = "dry", "Dry"
    WET = "wet", "Wet"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Diabetes(models.TextChoices):
    NONE = "none", "None"
    TYPE1 = "type1", "Type 1"
    TYPE2 = "type2", "Type 2"
    OTHER = "other", "Other"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class CkdStage(models.TextChoices):
    G1 = "G1", "G1"
    G2 = "G2", "G2"
    G3A = "G3a", "G3a"
    G3B = "G3b", "G3b"
    G4 = "G4", "G4"
    G5 = "G5", "G5"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class DialysisModality(models.TextChoices):
    HAEMODIALYSIS = "hd", "Haemodialysis"
    PERITONEAL = "pd", "Peritoneal dialysis"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Smoking(models.TextChoices):
    NEVER = "never", "Never"
    EX = "ex", "Ex-smoker"
    CURRENT = "current", "Current"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class AsaGrade(models.TextChoices):
    I = "I", "ASA I"  # noqa: E741
    II = "II", "ASA II"
    III = "III", "ASA III"
    IV = "IV", "ASA IV"
    V = "V", "ASA V"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Ambulatory(models.TextChoices):
    INDEPENDENT = "independent", "Independent"
    WITH_AID = "with_aid", "With aid"
    WHEELCHAIR = "wheelchair", "Wheelchair"
    BEDBOUND = "bedbound", "Bedbound"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class LivingStatus(models.TextChoices):
    HOME_INDEPENDENT = "home_independent", "Home, independent"
    HOME_WITH_CARE = "home_with_care", "Home with care"
    CARE_HOME = "care_home", "Care home"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class RegistryConsent(models.TextChoices):
    CONSENTED = "consented", "Consented"
    DECLINED = "declined", "Declined"
    LACKS_CAPACITY = "lacks_capacity_consultee", "Lacks capacity (consultee advice)"
    S251 = "s251_or_other_basis", "Section 251 or other lawful basis"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class TechniqueFamily(models.TextChoices):
    DEDICATED_SYSTEM = "dedicated_system", "Dedicated system (e.g. LimFlow)"
    OFF_THE_SHELF = "off_the_shelf_percutaneous", "Off-the-shelf percutaneous"
    HYBRID = "hybrid_open", "Hybrid (open + endovascular)"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class AdmissionType(models.TextChoices):
    ELECTIVE = "elective", "Elective"
    NON_ELECTIVE = "non_elective", "Non-elective"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Anaesthesia(models.TextChoices):
    GENERAL = "general", "General"
    REGIONAL = "regional", "Regional"
    LOCAL_SEDATION = "local_sedation", "Local with sedation"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class ArterialAccess(models.TextChoices):
    CFA_ANTEGRADE = "cfa_antegrade", "CFA antegrade"
    CFA_RETROGRADE = "cfa_retrograde", "CFA retrograde"
    PEDAL = "pedal", "Pedal"
    POPLITEAL = "popliteal", "Popliteal"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class VenousAccess(models.TextChoices):
    PEDAL_VEIN_RETROGRADE = "pedal_vein_retrograde", "Pedal vein (retrograde)"
    TIBIAL_VEIN = "tibial_vein", "Tibial vein"
    POPLITEAL_VEIN = "popliteal_vein", "Popliteal vein"
    NONE = "none", "None"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class DonorArtery(models.TextChoices):
    PTA = "pta", "Posterior tibial artery"
    ATA = "ata", "Anterior tibial artery"
    PERONEAL = "peroneal", "Peroneal artery"
    TPT = "tpt", "Tibioperoneal trunk"
    POPLITEAL = "popliteal", "Popliteal artery"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class TargetVein(models.TextChoices):
    PTV = "ptv", "Posterior tibial vein"
    ATV = "atv", "Anterior tibial vein"
    PERONEAL_VEIN = "peroneal_vein", "Peroneal vein"
    GSV = "gsv", "Great saphenous vein"
    SSV = "ssv", "Small saphenous vein"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class CrossingLevel(models.TextChoices):
    PROXIMAL_CALF = "proximal_calf", "Proximal calf"
    MID_CALF = "mid_calf", "Mid calf"
    DISTAL_CALF = "distal_calf", "Distal calf"
    ANKLE = "ankle", "Ankle"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class CrossingMethod(models.TextChoices):
    DEDICATED_CATHETER = "dedicated_catheter_ultrasound", "Dedicated catheters with ultrasound alignment"
    REENTRY_DEVICE = "reentry_device", "Re-entry device"
    SNARE_BALLOON = "snare_balloon_target", "Snare / balloon target"
    NEEDLE = "needle", "Needle"
    OTHER = "other", "Other"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Valvulotomy(models.TextChoices):
    REVERSE_VALVULOTOME = "reverse_valvulotome", "Reverse valvulotome"
    BALLOON = "balloon", "Balloon"
    NONE = "none", "None"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class ValvulotomyExtent(models.TextChoices):
    CALF = "calf", "Calf"
    ANKLE = "ankle", "Ankle"
    PEDAL_ARCH = "pedal_arch", "Pedal arch"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Outflow(models.TextChoices):
    PLANTAR_VEINS = "plantar_veins", "Plantar veins"
    VENOUS_ARCH = "venous_arch", "Venous arch"
    DORSAL_FOOT_VEIN = "dorsal_foot_vein", "Dorsal foot vein"
    NONE = "none", "None"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class InflowTreatment(models.TextChoices):
    NONE = "none", "None"
    SFA_PTA = "sfa_pta", "SFA angioplasty"
    POP_PTA = "pop_pta", "Popliteal angioplasty"
    STENT = "stent", "Stent"
    ATHERECTOMY = "atherectomy", "Atherectomy"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class DischargeDestination(models.TextChoices):
    HOME = "home", "Home"
    HOME_WITH_CARE = "home_with_care", "Home with care"
    CARE_HOME = "care_home", "Care home"
    OTHER_HOSPITAL = "other_hospital", "Other hospital"
    REHABILITATION = "rehabilitation", "Rehabilitation"
    DIED = "died", "Died in hospital"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class MedicationAgent(models.TextChoices):
    ASPIRIN = "aspirin", "Aspirin"
    CLOPIDOGREL = "clopidogrel", "Clopidogrel"
    TICAGRELOR = "ticagrelor", "Ticagrelor"
    PRASUGREL = "prasugrel", "Prasugrel"
    RIVAROXABAN = "rivaroxaban", "Rivaroxaban"
    APIXABAN = "apixaban", "Apixaban"
    EDOXABAN = "edoxaban", "Edoxaban"
    DABIGATRAN = "dabigatran", "Dabigatran"
    WARFARIN = "warfarin", "Warfarin"
    LMWH = "lmwh", "Low molecular weight heparin"
    CILOSTAZOL = "cilostazol", "Cilostazol"
    STATIN = "statin", "Statin"
    OTHER = "other", "Other"


class MedicationClass(models.TextChoices):
    ANTIPLATELET = "antiplatelet", "Antiplatelet"
    ANTICOAGULANT = "anticoagulant", "Anticoagulant"
    LIPID_LOWERING = "lipid_lowering", "Lipid lowering"
    OTHER = "other", "Other"


AGENT_CLASS = {
    "aspirin": MedicationClass.ANTIPLATELET,
    "clopidogrel": MedicationClass.ANTIPLATELET,
    "ticagrelor": MedicationClass.ANTIPLATELET,
    "prasugrel": MedicationClass.ANTIPLATELET,
    "rivaroxaban": MedicationClass.ANTICOAGULANT,
    "apixaban": MedicationClass.ANTICOAGULANT,
    "edoxaban": MedicationClass.ANTICOAGULANT,
    "dabigatran": MedicationClass.ANTICOAGULANT,
    "warfarin": MedicationClass.ANTICOAGULANT,
    "lmwh": MedicationClass.ANTICOAGULANT,
    "cilostazol": MedicationClass.OTHER,
    "statin": MedicationClass.LIPID_LOWERING,
    "other": MedicationClass.OTHER,
}


class Frequency(models.TextChoices):
    OD = "od", "Once daily"
    BD = "bd", "Twice daily"
    TDS = "tds", "Three times daily"
    OTHER = "other", "Other"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class MedicationStopReason(models.TextChoices):
    PLANNED_END = "planned_end", "Planned end"
    BLEEDING = "bleeding", "Bleeding"
    PROCEDURE = "procedure", "For a procedure"
    INTOLERANCE = "intolerance", "Intolerance"
    DEATH = "death", "Death"
    OTHER = "other", "Other"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class MedicationIndication(models.TextChoices):
    POST_DVA = "post_dva", "After DVA"
    AF = "af", "Atrial fibrillation"
    VTE = "vte", "Venous thromboembolism"
    OTHER = "other", "Other"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Timepoint(models.TextChoices):
    DISCHARGE = "discharge", "Discharge"
    W2_6 = "w2_6", "2-6 weeks"
    M3 = "m3", "3 months"
    M6 = "m6", "6 months"
    M12 = "m12", "12 months"
    ANNUAL = "annual", "Annual (year 2 onwards)"
    UNSCHEDULED = "unscheduled", "Unscheduled"


class ContactMode(models.TextChoices):
    FACE_TO_FACE = "face_to_face", "Face to face"
    TELEPHONE = "telephone", "Telephone"
    RECORDS_ONLY = "records_only", "Records only"
    LINKAGE_ONLY = "linkage_only", "Linkage only"


class LimbStatus(models.TextChoices):
    INTACT = "intact", "Intact"
    MINOR_AMPUTATED = "minor_amputated", "Minor amputation"
    MAJOR_AMPUTATED = "major_amputated", "Major amputation"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class WoundStatus(models.TextChoices):
    HEALED = "healed", "Completely healed"
    HEALING = "healing", "Healing"
    STATIC = "static", "Static"
    WORSE = "worse", "Worse"
    NEW_WOUND = "new_wound", "New wound"
    NO_WOUND = "no_wound", "No wound (none at baseline)"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Oedema(models.TextChoices):
    NONE = "none", "None"
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Patency(models.TextChoices):
    PATENT = "patent", "Patent"
    STENOSIS = "stenosis", "Patent with stenosis"
    OCCLUDED = "occluded", "Occluded"
    NOT_ASSESSED = "not_assessed", "Not assessed"


class AECategory(models.TextChoices):
    PAIN = "pain", "Pain"
    BLEEDING = "bleeding", "Bleeding"
    INFECTION = "infection", "Infection"
    WORSENING_PERFUSION = "worsening_perfusion", "Worsening perfusion"
    STEAL = "steal_syndrome", "Steal syndrome"
    ACCESS_SITE = "access_site_complication", "Access site complication"
    HAEMATOMA = "haematoma", "Haematoma"
    PSEUDOANEURYSM = "pseudoaneurysm", "Pseudoaneurysm"
    PERFORATION = "vessel_perforation", "Vessel perforation"
    STENT_GRAFT_THROMBOSIS = "stent_graft_thrombosis", "Stent graft thrombosis"
    DVT = "dvt", "Deep vein thrombosis"
    COMPARTMENT = "compartment_syndrome", "Compartment syndrome"
    OEDEMA = "oedema", "Oedema"
    CONTRAST_AKI = "contrast_aki", "Contrast-associated AKI"
    MACE_MI = "mace_mi", "MACE - myocardial infarction"
    MACE_STROKE = "mace_stroke", "MACE - stroke"
    MACE_CV_DEATH = "mace_cv_death", "MACE - cardiovascular death"
    OTHER = "other", "Other"


NICE_SAFETY_CATEGORIES = ("pain", "bleeding", "infection", "worsening_perfusion", "steal_syndrome")
MACE_CATEGORIES = ("mace_mi", "mace_stroke", "mace_cv_death")


class BleedingSeverity(models.TextChoices):
    """BARC (Bleeding Academic Research Consortium) types, the registry's one bleeding scale."""

    BARC1 = "barc1", "BARC 1"
    BARC2 = "barc2", "BARC 2"
    BARC3A = "barc3a", "BARC 3a"
    BARC3B = "barc3b", "BARC 3b"
    BARC3C = "barc3c", "BARC 3c"
    BARC4 = "barc4", "BARC 4"
    BARC5 = "barc5", "BARC 5"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class InfectionType(models.TextChoices):
    WOUND = "wound", "Wound"
    SURGICAL_SITE = "surgical_site", "Surgical site"
    ACCESS_SITE = "access_site", "Access site"
    OSTEOMYELITIS = "osteomyelitis", "Osteomyelitis"
    SEPSIS = "systemic_sepsis", "Systemic sepsis"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class StealGrade(models.TextChoices):
    I = "I", "I - pale/cool, no pain"  # noqa: E741
    II = "II", "II - pain on exercise"
    III = "III", "III - pain at rest"
    IV = "IV", "IV - ulceration/necrosis"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class ClavienDindo(models.TextChoices):
    I = "I", "I"  # noqa: E741
    II = "II", "II"
    IIIA = "IIIa", "IIIa"
    IIIB = "IIIb", "IIIb"
    IVA = "IVa", "IVa"
    IVB = "IVb", "IVb"
    V = "V", "V (death)"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class Relatedness(models.TextChoices):
    NOT_RELATED = "not_related", "Not related"
    UNLIKELY = "unlikely", "Unlikely"
    POSSIBLE = "possible", "Possible"
    PROBABLE = "probable", "Probable"
    DEFINITE = "definite", "Definite"
    NOT_KNOWN = NOT_KNOWN, "Not known"


RELATED_LEVELS = ("possible", "probable", "definite")


class AEOutcome(models.TextChoices):
    RESOLVED = "resolved", "Resolved"
    RESOLVED_SEQUELAE = "resolved_sequelae", "Resolved with sequelae"
    ONGOING = "ongoing", "Ongoing"
    FATAL = "fatal", "Fatal"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class ReinterventionIndication(models.TextChoices):
    SURVEILLANCE_STENOSIS = "surveillance_stenosis", "Stenosis on surveillance"
    OCCLUSION = "occlusion", "Circuit occlusion"
    NON_HEALING = "non_healing", "Non-healing wound"
    WORSENING_PERFUSION = "worsening_perfusion", "Worsening perfusion"
    BLEEDING = "bleeding", "Bleeding"
    INFECTION = "infection", "Infection"
    STEAL = "steal", "Steal"
    STAGED_COMPLETION = "staged_completion", "Staged completion"
    OTHER = "other", "Other"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class FailureSite(models.TextChoices):
    ARTERIAL_INFLOW = "arterial_inflow", "Arterial inflow"
    INTRAGRAFT = "intragraft", "Within stent graft"
    TRANSITIONAL_VEIN = "transitional_vein", "Transitional vein segment"
    VENOUS_ARCH = "venous_arch", "Venous arch"
    UNDEFINED = "undefined", "Undefined"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class ReinterventionModality(models.TextChoices):
    PTA = "pta", "Angioplasty"
    DCB = "dcb", "Drug-coated balloon"
    STENT_GRAFT = "additional_stent_graft", "Additional stent graft"
    BARE_STENT = "bare_stent", "Bare stent"
    THROMBECTOMY = "thrombectomy", "Thrombectomy"
    THROMBOLYSIS = "thrombolysis", "Thrombolysis"
    VALVULOTOMY = "valvulotomy", "Valvulotomy"
    EMBOLISATION = "embolisation", "Embolisation"
    OPEN_REVISION = "open_surgical_revision", "Open surgical revision"
    NEW_BYPASS = "new_bypass", "New bypass"
    DEBRIDEMENT = "debridement", "Debridement"
    MINOR_AMPUTATION = "minor_amputation", "Minor amputation"


# MALE definition (SVS/GVG): new bypass, graft (circuit) revision, thrombectomy or thrombolysis.
MAJOR_REINTERVENTION_MODALITIES = ("new_bypass", "open_surgical_revision", "thrombectomy", "thrombolysis")


class AmputationLevel(models.TextChoices):
    TOE = "toe", "Toe"
    RAY = "ray", "Ray"
    TRANSMETATARSAL = "transmetatarsal", "Transmetatarsal"
    LISFRANC = "lisfranc", "Lisfranc"
    CHOPART = "chopart", "Chopart"
    SYME = "syme_ankle", "Syme (ankle)"
    BELOW_KNEE = "below_knee", "Below knee"
    THROUGH_KNEE = "through_knee", "Through knee"
    ABOVE_KNEE = "above_knee", "Above knee"
    HIP = "hip_disarticulation", "Hip disarticulation"


# Major amputation = at the level of the ankle or above (PARC); Syme is therefore major.
MAJOR_AMPUTATION_LEVELS = ("syme_ankle", "below_knee", "through_knee", "above_knee", "hip_disarticulation")


class AmputationReason(models.TextChoices):
    NON_HEALING = "non_healing", "Non-healing"
    INFECTION = "infection_sepsis", "Infection / sepsis"
    PAIN = "pain", "Pain"
    CIRCUIT_FAILURE = "circuit_failure", "Circuit failure"
    UNSALVAGEABLE = "unsalvageable", "Unsalvageable"
    OTHER = "other", "Other"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class DeathSource(models.TextChoices):
    HOSPITAL = "hospital_record", "Hospital record"
    ONS = "ons_linkage", "National death registration (linkage)"
    GP = "gp", "GP"
    RELATIVE = "relative", "Relative"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class DeathCause(models.TextChoices):
    CARDIOVASCULAR = "cardiovascular", "Cardiovascular"
    INFECTION = "infection_sepsis", "Infection / sepsis"
    RENAL = "renal", "Renal"
    MALIGNANCY = "malignancy", "Malignancy"
    LIMB_RELATED = "limb_related", "Limb related"
    PROCEDURE_RELATED = "procedure_related", "Procedure related"
    OTHER = "other", "Other"
    NOT_KNOWN = NOT_KNOWN, "Not known"


class PromInstrument(models.TextChoices):
    EQ5D5L = "eq5d5l", "EQ-5D-5L"
    VASCUQOL6 = "vascuqol6", "VascuQoL-6"
    PAIN_NRS = "pain_nrs", "Pain numeric rating scale (0-10)"


class PromMode(models.TextChoices):
    PAPER = "paper", "Paper"
    ELECTRONIC_SELF = "electronic_self", "Electronic self-completion"
    INTERVIEWER = "interviewer", "Interviewer administered"
    PROXY = "proxy", "Proxy"


class PromStatus(models.TextChoices):
    COMPLETE = "complete", "Complete"
    PARTIAL = "partial", "Partial"
    REFUSED = "refused", "Refused"
    UNABLE = "unable", "Unable"
    DIED = "died", "Died"


class WoundLocation(models.TextChoices):
    TOE = "toe", "Toe"
    FOREFOOT = "forefoot", "Forefoot"
    MIDFOOT = "midfoot", "Midfoot"
    HEEL = "heel", "Heel"
    ANKLE = "ankle", "Ankle"
    LEG = "leg", "Leg"


class Imaging(models.TextChoices):
    DSA = "dsa", "Digital subtraction angiography"
    CTA = "cta", "CT angiography"
    MRA = "mra", "MR angiography"
    DUPLEX = "duplex", "Duplex ultrasound"


class Alternative(models.TextChoices):
    PRIMARY_AMPUTATION = "primary_amputation", "Primary amputation"
    CONSERVATIVE = "conservative_palliative", "Conservative / palliative care"
    OTHER_REVASC = "other_revasc", "Other revascularisation"
