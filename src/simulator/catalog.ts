// Fixed reference data of the simulated installation: codelists, custom field
// definitions, and the word lists seeded records are drawn from. Codes are invented in the
// style of the guide's examples (species 15461002, breed 13689002): installation-specific.

export interface Species {
  id: number;
  name: string;
}

export interface Breed {
  id: number;
  name: string;
  species: number;
}

export interface SelectOption {
  id: number;
  name: string;
}

type CustomFieldType = 'text' | 'number' | 'date' | 'boolean' | 'select' | 'multiselect';

export interface CustomFieldDefinition {
  id: number;
  label: string;
  type: CustomFieldType;
  model: 'client' | 'patient';
  required: boolean;
  options: SelectOption[];
}

export const SPECIES: readonly Species[] = [
  { id: 15461002, name: 'Dog (Canine - Domestic)' },
  { id: 15461010, name: 'Cat (Feline - Domestic)' },
  { id: 15461029, name: 'Rabbit (Domestic)' },
  { id: 15461037, name: 'Horse (Equine)' },
  { id: 15461045, name: 'Guinea pig' },
  { id: 15461053, name: 'Budgerigar' },
  { id: 15461061, name: 'Ferret' },
  { id: 15461088, name: 'Bearded dragon' },
];

export const BREEDS: readonly Breed[] = [
  { id: 13689002, name: 'Labrador Retriever', species: 15461002 },
  { id: 13689010, name: 'German Shepherd', species: 15461002 },
  { id: 13689029, name: 'Golden Retriever', species: 15461002 },
  { id: 13689037, name: 'Dachshund', species: 15461002 },
  { id: 13689045, name: 'Finnish Lapphund', species: 15461002 },
  { id: 13689053, name: 'Border Collie', species: 15461002 },
  { id: 13689061, name: 'Mixed breed (dog)', species: 15461002 },
  { id: 13690001, name: 'European Shorthair', species: 15461010 },
  { id: 13690018, name: 'Maine Coon', species: 15461010 },
  { id: 13690026, name: 'Siamese', species: 15461010 },
  { id: 13690034, name: 'Norwegian Forest Cat', species: 15461010 },
  { id: 13691005, name: 'Netherland Dwarf', species: 15461029 },
  { id: 13691013, name: 'Lionhead', species: 15461029 },
  { id: 13692009, name: 'Finnhorse', species: 15461037 },
  { id: 13692017, name: 'Icelandic Horse', species: 15461037 },
  { id: 13692025, name: 'Shetland Pony', species: 15461037 },
  { id: 13693002, name: 'Abyssinian (guinea pig)', species: 15461045 },
];

export const BREEDS_BY_SPECIES: ReadonlyMap<number, readonly Breed[]> = new Map(
  SPECIES.map((s) => [s.id, BREEDS.filter((b) => b.species === s.id)]),
);

/** Seeded species mix: dogs and cats dominate, as in a small-animal clinic. */
export const SPECIES_WEIGHTS: readonly number[] = [45, 80, 86, 90, 94, 96, 98, 100];

export const CUSTOM_FIELDS: readonly CustomFieldDefinition[] = [
  { id: 41, label: 'Referral source', type: 'text', model: 'client', required: false, options: [] },
  { id: 42, label: 'Loyalty points', type: 'number', model: 'client', required: false, options: [] },
  { id: 43, label: 'Marketing consent date', type: 'date', model: 'client', required: false, options: [] },
  { id: 44, label: 'Newsletter', type: 'boolean', model: 'client', required: false, options: [] },
  {
    id: 45,
    label: 'Preferred contact',
    type: 'select',
    model: 'client',
    required: false,
    options: [
      { id: 101, name: 'Email' },
      { id: 102, name: 'SMS' },
      { id: 103, name: 'Phone call' },
      { id: 104, name: 'Letter' },
    ],
  },
  { id: 51, label: 'Temperament', type: 'text', model: 'patient', required: false, options: [] },
  { id: 52, label: 'Kennel number', type: 'number', model: 'patient', required: false, options: [] },
  { id: 53, label: 'Last rabies vaccination', type: 'date', model: 'patient', required: false, options: [] },
  { id: 54, label: 'Insured', type: 'boolean', model: 'patient', required: false, options: [] },
  {
    id: 55,
    label: 'Diet',
    type: 'multiselect',
    model: 'patient',
    required: false,
    options: [
      { id: 111, name: 'Dry food' },
      { id: 112, name: 'Wet food' },
      { id: 113, name: 'Raw' },
      { id: 114, name: 'Renal' },
      { id: 115, name: 'Hypoallergenic' },
    ],
  },
];

export const CLIENT_FIELDS = CUSTOM_FIELDS.filter((f) => f.model === 'client');
export const PATIENT_FIELDS = CUSTOM_FIELDS.filter((f) => f.model === 'patient');
export const CUSTOM_FIELDS_BY_ID: ReadonlyMap<number, CustomFieldDefinition> = new Map(
  CUSTOM_FIELDS.map((f) => [f.id, f]),
);

/** Documented gender values; the last three are for horses only. */
export const GENDERS: readonly string[] = [
  'Male',
  'Female',
  'Male (neutered)',
  'Female (spayed)',
  'Unknown',
  'Stallion',
  'Gelding',
  'Mare',
];

export const FIRST_NAMES: readonly string[] = [
  'Aino',
  'Eero',
  'Liisa',
  'Mikko',
  'Sofia',
  'Oliver',
  'Emma',
  'Noah',
  'Olivia',
  'Elias',
  'Hannah',
  'James',
  'Mia',
  'Lucas',
  'Ella',
  'Leo',
  'Amelia',
  'Jack',
  'Isla',
  'Hugo',
  'Ingrid',
  'Sven',
  'Astrid',
  'Magnus',
  'Freya',
  'Björn',
  'Zoë',
  'Renée',
  'José',
  'Siobhán',
  'Mary-Jane',
  "D'Arcy",
  'Hill',
  'Anna',
  'Peter',
  'Maria',
  'Juha',
  'Kaisa',
  'Tomás',
  'Chloé',
];

export const LAST_NAMES: readonly string[] = [
  'Virtanen',
  'Korhonen',
  'Mäkinen',
  'Nieminen',
  'Smith',
  'Jones',
  'Taylor',
  'Brown',
  'Hill',
  'Hillman',
  'Johansson',
  'Andersson',
  'Nilsen',
  'Hansen',
  "O'Brien",
  'McDonald',
  'García',
  'Müller',
  'Schmidt',
  'Lindqvist',
  'Østergaard',
  'Kowalski',
  'Novak',
  'Rossi',
  'Dubois',
  'van der Berg',
  'Evans',
  'Thomas',
  'Roberts',
  'Walker',
];

export const ORGANIZATION_STEMS: readonly string[] = [
  'Greenhill',
  'Northern Kennels',
  'Helsinki Police Dogs',
  'Sunnyvale Stables',
  'Ridge Farm',
  'City Animal Shelter',
  'Lakeside Riding School',
  'Oak & Ash Breeders',
  'Blue Cross',
  'Paws Rescue',
];

export const ORGANIZATION_SUFFIXES: readonly string[] = ['Ltd', 'Oy', 'AB', 'Trust', 'Association', ''];

export const STREETS: readonly string[] = [
  'Mannerheimintie',
  'High Street',
  'Station Road',
  'Aleksanterinkatu',
  'Church Lane',
  'Kungsgatan',
  'Storgata',
  'Mill Road',
  'Hämeentie',
  'Victoria Road',
];

export const CITIES: readonly { city: string; country: string; zipPattern: 'fi' | 'gb' | 'se' | 'no' }[] = [
  { city: 'Helsinki', country: 'FI', zipPattern: 'fi' },
  { city: 'Espoo', country: 'FI', zipPattern: 'fi' },
  { city: 'Tampere', country: 'FI', zipPattern: 'fi' },
  { city: 'London', country: 'GB', zipPattern: 'gb' },
  { city: 'Leeds', country: 'GB', zipPattern: 'gb' },
  { city: 'Stockholm', country: 'SE', zipPattern: 'se' },
  { city: 'Oslo', country: 'NO', zipPattern: 'no' },
];

export const PET_NAMES: readonly string[] = [
  'Max',
  'Bella',
  'Fenton',
  'Luna',
  'Charlie',
  'Milo',
  'Lucy',
  'Rocky',
  'Daisy',
  'Musti',
  'Mirri',
  'Peppi',
  'Nala',
  'Simba',
  'Oscar',
  'Molly',
  'Teddy',
  'Loki',
  'Rex',
  'Tassu',
  'Mr. Whiskers',
  'Sir Barksalot',
  'Ruusu',
  'Pörrö',
  'Coco',
  'Ziggy',
  'Bailey',
  'Hilla',
];

export const COLORS: readonly string[] = [
  'Black',
  'White',
  'Brown',
  'Tabby',
  'Grey',
  'Black and tan',
  'Ginger',
  'Bay',
  'Chestnut',
];

export const TEMPERAMENTS: readonly string[] = ['Calm', 'Nervous', 'Bites when handled', 'Friendly', 'Needs muzzle'];

export const REFERRAL_SOURCES: readonly string[] = [
  'Referred by Dr. Brown',
  'Web search',
  'Friend',
  'Breeder',
  'Walk-in',
];

export const INSURANCE_COMPANIES: readonly string[] = ['Agria', 'Petplan', 'If', 'LähiTapiola', 'Trupanion'];

export const CRITICAL_NOTES: readonly string[] = [
  'Aggressive dog, muzzle required',
  'Owes money',
  'Allergic to penicillin',
  'Call before visit',
];

/** Departments of the installation (URLs on records); user ids that appear as created_user/modified_user. */
export const DEPARTMENT_IDS: readonly number[] = [1, 2, 3];
export const STAFF_USER_IDS: readonly number[] = [3, 7, 12, 15, 21];
/** The user that writes made through the REST API are attributed to. */
export const API_USER_ID = 900;
